"""Broken flows are fixtures with the exact error expected (goflow's habit)."""
from pathlib import Path

import pytest

from bot.conversation.flows import FlowError, load_flow, validate

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "main.yaml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_real_flows_load_and_every_node_is_reachable():
    flow = load_flow(ROOT / "flows")
    assert flow.start == "main"
    assert {"main", "emergency", "crisis", "naloxone_where", "legal", "talk"} <= set(flow.nodes)
    assert [o.key for o in flow.nodes["main"].options] == ["1", "2", "3", "4", "5", "6", "7"]


BROKEN = {
    "unknown target": ("nodes:\n  main:\n    say: menu.main\n    options:\n"
                       "      - {key: 1, goto: nowhere}\n",
                       "main.yaml: node 'main': option '1' goes to unknown node 'nowhere'"),
    "duplicate option": ("nodes:\n  main:\n    say: menu.main\n    options:\n"
                         "      - {key: 1, goto: a}\n      - {key: 1, goto: a}\n"
                         "  a: {say: x, terminal: true}\n",
                         "main.yaml: node 'main': duplicate option '1'"),
    "dead end": ("nodes:\n  main:\n    say: menu.main\n    options:\n      - {key: 1, goto: a}\n"
                 "  a: {say: x}\n",
                 "main.yaml: node 'a': dead end"),
    "unreachable": ("nodes:\n  main:\n    say: menu.main\n    terminal: true\n"
                    "  lost: {say: x, terminal: true}\n",
                    "main.yaml: node 'lost' is unreachable"),
    "duplicate node": ("nodes:\n  main: {say: a, terminal: true}\n  main: {say: b, terminal: true}\n",
                       "main.yaml: duplicate key 'main' at line 3"),
    "unknown field": ("nodes:\n  main: {say: a, terminal: true, sayy: b}\n",
                      "main.yaml: node 'main': unknown field(s) ['sayy']"),
    "zero reserved": ("nodes:\n  main:\n    say: a\n    options:\n      - {key: 0, goto: main}\n",
                      "main.yaml: node 'main': option '0' is reserved"),
    "not yaml": ("nodes: [\n", "main.yaml: not valid YAML"),
    "more without its option": ("nodes:\n  main:\n    say: a\n    more: 2\n    options:\n"
                                "      - {key: 1, goto: main}\n",
                                "main.yaml: node 'main': more: 2 is not one of its options"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_flow_is_refused_with_file_and_node(tmp_path, case):
    text, message = BROKEN[case]
    with pytest.raises(FlowError) as err:
        load_flow(write(tmp_path, text))
    assert message in str(err.value)


def test_node_defined_in_two_files_names_both(tmp_path):
    write(tmp_path, "nodes:\n  main: {say: a, terminal: true}\n", "a.yaml")
    write(tmp_path, "nodes:\n  main: {say: b, terminal: true}\n", "b.yaml")
    with pytest.raises(FlowError, match="b.yaml: node 'main' is already defined in a.yaml"):
        load_flow(tmp_path)


def test_missing_content_key_names_node(tmp_path):
    flow = load_flow(write(tmp_path, "nodes:\n  main: {say: menu.nope, terminal: true}\n"))
    with pytest.raises(FlowError, match="node 'main': content key 'menu.nope' is not defined"):
        validate(flow, {"menu.main"})
