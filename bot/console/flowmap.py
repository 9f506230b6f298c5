"""The menu graph as SVG, laid out on the server: one column per BFS depth from the start and
entry screens, one row per screen. Dead ends and unreachable screens are flagged as `flows
check` defines them (bot.conversation.flows)."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from bot.conversation.flows import reachable

COL, ROW, W, H, PAD = 190, 34, 150, 24, 20


@dataclass(frozen=True)
class Box:
    id: str
    x: int
    y: int
    depth: int
    problem: str  # "", "dead end", "unreachable"
    entry: bool


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    label: str
    back: bool  # to the same or an earlier column


def _bfs(flow, roots: list[str], depth: dict[str, int], order: list[str]) -> None:
    todo = deque((r, 0) for r in roots)
    while todo:
        node_id, d = todo.popleft()
        if node_id in depth or node_id not in flow.nodes:
            continue
        depth[node_id] = d
        order.append(node_id)
        node = flow.nodes[node_id]
        for target in [o.goto for o in node.options] + ([node.offer] if node.offer else []):
            todo.append((target, d + 1))


def layout(flow) -> tuple[list[Box], list[Edge], int, int]:
    """Screens reached from the menu first (in the order a walk finds them), then those only a
    keyword opens (check-in replies, ...), then the unreachable ones in a last column."""
    roots = [flow.start] + sorted(n.id for n in flow.nodes.values() if n.entry and n.id != flow.start)
    depth: dict[str, int] = {}
    order: list[str] = []
    _bfs(flow, [flow.start], depth, order)
    from_menu = set(depth)
    _bfs(flow, roots[1:], depth, order)
    live = reachable(flow)
    last = max(depth.values(), default=0) + 1
    for node_id in sorted(flow.nodes):
        depth.setdefault(node_id, last)  # unreachable ones in a column of their own
    columns: dict[int, list[str]] = {}
    for node_id in flow.nodes:
        columns.setdefault(depth[node_id], []).append(node_id)
    boxes: dict[str, Box] = {}
    for d, ids in sorted(columns.items()):
        rank = {node_id: i for i, node_id in enumerate(order)}
        for row, node_id in enumerate(sorted(ids, key=lambda i: (i not in from_menu,
                                                                 rank.get(i, len(rank)), i))):
            node = flow.nodes[node_id]
            problem = ("unreachable" if node_id not in live else
                       "dead end" if not node.options and not node.terminal and not node.expects
                       else "")
            boxes[node_id] = Box(node_id, PAD + d * COL, PAD + row * ROW, d, problem,
                                 node.entry or node_id == flow.start)
    edges = []
    for node in flow.nodes.values():
        a = boxes[node.id]
        for option in node.options:
            b = boxes.get(option.goto)
            if b is None:
                continue
            edges.append(Edge(a.x + W, a.y + H // 2, b.x, b.y + H // 2, option.key,
                              b.depth <= a.depth))
    width = PAD * 2 + (max(columns) + 1) * COL
    height = PAD * 2 + max(len(ids) for ids in columns.values()) * ROW
    return list(boxes.values()), edges, width, height
