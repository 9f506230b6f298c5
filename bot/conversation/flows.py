"""Load flows/*.yaml into frozen dataclasses and refuse broken graphs before a person meets them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import yaml

NODE_FIELDS = {"say", "options", "expects", "events", "entry", "terminal", "offer", "more"}
INPUT_KINDS = {"place", "time", "choice"}


class FlowError(ValueError):
    """A flow file is wrong; the message names the file and node."""


@dataclass(frozen=True)
class Option:
    key: str
    goto: str


@dataclass(frozen=True)
class Node:
    """One screen: what to say (a content key) and where each key press leads."""

    id: str
    say: str
    options: tuple[Option, ...] = ()
    expects: str | None = None
    events: tuple[str, ...] = ()
    entry: bool = False
    terminal: bool = False
    offer: str | None = None
    more: str | None = None  # the option the word MORE picks, when the screen says "1 more ..."
    file: str = ""

    def target(self, key: str) -> str | None:
        for option in self.options:
            if option.key == key:
                return option.goto
        return None


@dataclass(frozen=True)
class Flow:
    nodes: Mapping[str, Node]
    start: str = "main"
    files: tuple[str, ...] = field(default=())

    def node(self, node_id: str | None) -> Node:
        return self.nodes.get(node_id or self.start) or self.nodes[self.start]

    def content_keys(self) -> set[str]:
        return {node.say for node in self.nodes.values()}


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML silently keeps the last of two equal keys; a flow must not."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise FlowError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path):
    """Parse YAML, rejecting duplicate keys, with the file name in every error."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FlowError as exc:
        raise FlowError(f"{path.name}: {exc}") from None
    except yaml.YAMLError as exc:
        raise FlowError(f"{path.name}: not valid YAML: {exc}") from None


def _parse_node(node_id: str, raw, fname: str) -> Node:
    where = f"{fname}: node {node_id!r}"
    if not isinstance(raw, dict):
        raise FlowError(f"{where}: must be a mapping with at least 'say'")
    unknown = set(raw) - NODE_FIELDS
    if unknown:
        raise FlowError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(NODE_FIELDS)}")
    if not isinstance(raw.get("say"), str) or not raw["say"]:
        raise FlowError(f"{where}: 'say' must name a content key")
    options, keys = [], set()
    for item in raw.get("options") or []:
        if not isinstance(item, dict) or set(item) != {"key", "goto"}:
            raise FlowError(f"{where}: each option needs exactly 'key' and 'goto', got {item!r}")
        key = str(item["key"])
        if key in keys:
            raise FlowError(f"{where}: duplicate option {key!r}")
        if key in ("0",):
            raise FlowError(f"{where}: option '0' is reserved for the main menu")
        keys.add(key)
        options.append(Option(key, str(item["goto"])))
    expects = raw.get("expects")
    if expects is not None and expects not in INPUT_KINDS:
        raise FlowError(f"{where}: expects must be one of {sorted(INPUT_KINDS)}")
    more = raw.get("more")
    if more is not None and str(more) not in keys:
        raise FlowError(f"{where}: more: {more!r} is not one of its options")
    return Node(id=node_id, say=raw["say"], options=tuple(options), expects=expects,
                events=tuple(raw.get("events") or ()), entry=bool(raw.get("entry")),
                terminal=bool(raw.get("terminal")), offer=raw.get("offer"),
                more=None if more is None else str(more), file=fname)


def load_flow(flows_dir: Path, start: str = "main") -> Flow:
    """Read every flows/*.yaml into one graph and validate it."""
    nodes: dict[str, Node] = {}
    files = sorted(Path(flows_dir).glob("*.yaml"))
    if not files:
        raise FlowError(f"{flows_dir}: no *.yaml flow files found")
    for path in files:
        data = read_yaml(path) or {}
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
            raise FlowError(f"{path.name}: must have a top-level 'nodes:' mapping")
        for node_id, raw in data["nodes"].items():
            if node_id in nodes:
                raise FlowError(f"{path.name}: node {node_id!r} is already defined in "
                                f"{nodes[node_id].file}")
            nodes[node_id] = _parse_node(str(node_id), raw, path.name)
    flow = Flow(MappingProxyType(nodes), start, tuple(p.name for p in files))
    validate(flow)
    return flow


def reachable(flow: Flow, roots: list[str] | None = None) -> set[str]:
    """Nodes reachable from `roots`: by default the start and every entry point (keyword, emergency)."""
    todo = list(roots) if roots is not None else (
        [flow.start] + [n.id for n in flow.nodes.values() if n.entry])
    seen: set[str] = set()
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        todo.extend(o.goto for o in flow.nodes[node_id].options)
        if flow.nodes[node_id].offer:
            todo.append(flow.nodes[node_id].offer)
    return seen


def validate(flow: Flow, content_keys: set[str] | None = None) -> None:
    """Unknown target, unreachable node, dead end, missing content: each an error naming the node."""
    if flow.start not in flow.nodes:
        raise FlowError(f"start node {flow.start!r} is not defined in any flow file")
    for node in flow.nodes.values():
        where = f"{node.file}: node {node.id!r}"
        for option in node.options:
            if option.goto not in flow.nodes:
                raise FlowError(f"{where}: option {option.key!r} goes to unknown node {option.goto!r}")
        if node.offer and node.offer not in flow.nodes:
            raise FlowError(f"{where}: offer goes to unknown node {node.offer!r}")
        if not node.options and not node.terminal and not node.expects:
            raise FlowError(f"{where}: dead end: give it options, 'expects', or mark it 'terminal: true'")
        if content_keys is not None and node.say not in content_keys:
            raise FlowError(f"{where}: content key {node.say!r} is not defined in content/")
    unreachable = sorted(set(flow.nodes) - reachable(flow))
    if unreachable:
        node = flow.nodes[unreachable[0]]
        raise FlowError(f"{node.file}: node {node.id!r} is unreachable: no option leads to it "
                        "(add one, or mark it 'entry: true' if a keyword opens it)")
