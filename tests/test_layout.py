"""The package layout: old RQ job paths still resolve, and lower layers never import upper ones."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rq.utils import import_attribute

from bot.checkins import jobs as checkin_jobs
from bot.reminders import jobs as reminder_jobs
from bot.voice import jobs as voice_jobs

BOT = Path(__file__).resolve().parent.parent / "bot"


@pytest.mark.parametrize("old, new", [
    ("bot.jobs.send_checkins", checkin_jobs.send_checkins),
    ("bot.jobs.send_checkin", checkin_jobs.send_checkin),
    ("bot.jobs.tick", checkin_jobs.tick),
    ("bot.reminder_jobs.send_reminder", reminder_jobs.send_reminder),
    ("bot.voice_jobs.send_screen_text", voice_jobs.send_screen_text),
])
def test_a_job_path_stored_by_the_previous_release_resolves_to_the_moved_function(old, new):
    assert import_attribute(old) is new


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


PURE = {"conversation", "understanding"}
FORBIDDEN_IN_PURE = ("redis", "flask", "rq", "twilio", "bot.storage", "bot.channels", "bot.ops",
                     "bot.checkins", "bot.reminders", "bot.voice", "bot.places", "bot.outbound")


@pytest.mark.parametrize("package", sorted(PURE))
def test_the_pure_core_imports_no_redis_flask_rq_twilio_or_upper_layer(package):
    for path in (BOT / package).glob("*.py"):
        bad = {m for m in imports_of(path)
               if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IN_PURE)}
        assert not bad, f"{path.relative_to(BOT.parent)} imports {sorted(bad)}"


def test_understanding_imports_nothing_else_of_bot():
    for path in (BOT / "understanding").glob("*.py"):
        bad = {m for m in imports_of(path)
               if m.startswith("bot.") and not m.startswith("bot.understanding")}
        assert not bad, f"{path.relative_to(BOT.parent)} imports {sorted(bad)}"


def test_storage_imports_nothing_above_it():
    for path in (BOT / "storage").glob("*.py"):
        bad = {m for m in imports_of(path) if m.startswith("bot.") and not m.startswith("bot.storage")}
        assert not bad, f"{path.relative_to(BOT.parent)} imports {sorted(bad)}"


def test_bot_holds_only_the_factory_settings_composition_root_and_packages():
    modules = sorted(p.name for p in BOT.glob("*.py"))
    assert modules == ["__init__.py", "config.py", "helpline.py", "legacy.py"]
    for package in (p for p in BOT.iterdir() if p.is_dir() and p.name != "__pycache__"):
        init = package / "__init__.py"
        assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), \
            f"{package.name}/__init__.py must say what the package is for and what it may import"


def package_of(module: str) -> str | None:
    """bot.checkins.jobs -> "checkins"; bot.helpline -> "helpline"; bot -> "bot" (the factory)."""
    parts = module.split(".")
    if parts[0] != "bot":
        return None
    if len(parts) == 1:
        return "bot"
    return parts[1] if (BOT / parts[1]).is_dir() or (BOT / f"{parts[1]}.py").exists() else "bot"


def package_graph() -> dict[str, dict[str, str]]:
    """{package: {package it imports: the first file and module that does}}. The modules at
    bot/'s top (the factory, config, helpline, legacy) are nodes of their own."""
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(BOT.rglob("*.py")):
        rel = path.relative_to(BOT)
        source = rel.parts[0] if len(rel.parts) > 1 else ("bot" if rel.name == "__init__.py"
                                                          else rel.stem)
        for module in sorted(imports_of(path)):
            target = package_of(module)
            if target and target != source and not (source == "bot" and module == "bot"):
                graph.setdefault(source, {}).setdefault(target, f"{path.relative_to(BOT.parent)} "
                                                                f"imports {module}")
    return graph


def find_loop(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """A cycle as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_package_imports_one_that_imports_it_back():
    """Issue 26: ops and console, outbound and check-ins, voice and reminders, and check-ins
    with the composition root once imported each other. A loop makes import order matter and
    the layers meaningless; cut one edge (inject the dependency, or move one function)."""
    graph = package_graph()
    loop = find_loop(graph)
    if loop:
        edges = "\n".join(f"  {a} -> {b}: {graph[a][b]}" for a, b in zip(loop, loop[1:]))
        pytest.fail("packages import each other in a loop " + " -> ".join(loop) + ":\n" + edges)


def test_the_loop_finder_finds_a_loop():
    assert find_loop({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]
    assert find_loop({"a": {"b": ""}, "b": {"c": ""}}) is None


def test_the_voice_line_names_the_reminder_offer_node_as_the_reminders_do():
    from bot.reminders.flow import REMINDER_OFFER
    from bot.voice.phone_tree import REMINDER_OFFER as VOICE_OFFER

    assert VOICE_OFFER == REMINDER_OFFER
