"""The menu graph as SVG, laid out on the server: one column per BFS depth from the start and
entry screens, each screen next to the screens that lead to it (so arrows run level rather than
cross). Dead ends and unreachable screens are flagged as `flows check` defines them
(bot.conversation.flows). Counts of visits and moves come from the anonymous daily counters
(store.py), shown with the dashboard's "<5" rule."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from bot.conversation.flows import reachable

COL, ROW, W, H, PAD = 250, 40, 200, 28, 20


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
    source: str = ""
    target: str = ""


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
    rank = {node_id: i for i, node_id in enumerate(order)}
    parents: dict[str, list[str]] = {}
    for node in flow.nodes.values():
        for target in [o.goto for o in node.options] + ([node.offer] if node.offer else []):
            parents.setdefault(target, []).append(node.id)
    row_of: dict[str, int] = {}
    for d, ids in sorted(columns.items()):
        def key(i: str):
            # Next to the screens that lead here (the mean row of those in earlier columns), so
            # arrows run level instead of crossing; menu-reached screens before keyword-only ones.
            rows = [row_of[p] for p in parents.get(i, ()) if p in row_of]
            centre = sum(rows) / len(rows) if rows else rank.get(i, len(rank))
            return (i not in from_menu, centre, rank.get(i, len(rank)), i)
        for row, node_id in enumerate(sorted(ids, key=key)):
            row_of[node_id] = row
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
                              b.depth <= a.depth, node.id, b.id))
    width = PAD * 2 + (max(columns) + 1) * COL
    height = PAD * 2 + max(len(ids) for ids in columns.values()) * ROW
    return list(boxes.values()), edges, width, height


def counts(store, days: list[str]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Screen visits and moves between screens, summed over the days."""
    visits: dict[str, int] = {}
    moves: dict[tuple[str, str], int] = {}
    for day in days:
        for node, n in store.visits(day).items():
            visits[node] = visits.get(node, 0) + n
        for pair, n in store.moves(day).items():
            moves[pair] = moves.get(pair, 0) + n
    return visits, moves
