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
