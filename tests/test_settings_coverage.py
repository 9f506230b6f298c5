"""Issue 26, item 8: every setting the code reads is documented in docs/settings.md and has a
line in .env.example, and neither lists one the code no longer reads.

The settings are found in the code itself (environment reads in bot/, worker.py,
gunicorn.conf.py, wsgi.py and scripts/), so a new setting that is not documented fails here with
a message that says where it is read and what to add.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Read from a process's environment, but not a setting of ours: the shell's and the WSGI
# server's own variables.
NOT_SETTINGS = {"PATH", "HOME", "LANG", "TMPDIR", "CONTENT_LENGTH", "PATH_INFO", "REQUEST_METHOD",
                "HTTP_TRANSFER_ENCODING", "CI"}


def sources() -> list[Path]:
    files = [p for p in (ROOT / "bot").rglob("*.py")]
    files += [ROOT / name for name in ("worker.py", "gunicorn.conf.py", "wsgi.py")]
    return files + sorted((ROOT / "scripts").glob("*.py"))


def _is_environment(node: ast.AST) -> bool:
    """os.environ, or a mapping named env (a copy of it, or the one load_settings reads)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "env"


def _const(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.match(node.value):
        return node.value
    return None


def names_in(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault")
                    and _is_environment(func.value) and node.args):
                found.add(_const(node.args[0]))
            elif isinstance(func, ast.Attribute) and func.attr == "getenv" and node.args:
                found.add(_const(node.args[0]))
            elif len(node.args) > 1 and _is_environment(node.args[0]):
                found.add(_const(node.args[1]))  # _int(env, "NAME"), any such helper
            for keyword in node.keywords:
                if keyword.arg == "envvar":
                    found.add(_const(keyword.value))
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
              and _is_environment(node.value)):
            found.add(_const(node.slice))
    return {name for name in found if name} - NOT_SETTINGS


def settings_read_by_code() -> dict[str, str]:
    """{setting: the first file that reads it}."""
    where: dict[str, str] = {}
    for path in sources():
        for name in sorted(names_in(path)):
            where.setdefault(name, str(path.relative_to(ROOT)))
    return where


def documented() -> set[str]:
    """Names in the first column of docs/settings.md's tables."""
    names = set()
    for line in (ROOT / "docs" / "settings.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first))
    return names


def in_env_example() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, re.M))


def compose_names() -> set[str]:
    """Variables docker-compose.yml takes from .env (${NAME...})."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text()))


def test_the_scan_finds_settings_of_every_kind():
    found = settings_read_by_code()
    for name in ("REDIS_URL", "QUIET_HOURS_START", "PORT", "STAFF_PASSWORD", "XDG_CACHE_HOME",
                 "HELPLINE_VAR_DIR", "GUNICORN_BIND", "OUTBOUND_TEXTS"):
        assert name in found, name


def test_every_setting_the_code_reads_is_documented_and_in_env_example():
    docs, example = documented(), in_env_example()
    problems = []
    for name, path in sorted(settings_read_by_code().items()):
        if name not in docs:
            problems.append(f"{name} is read in {path} but not documented: add a row "
                            f"| `{name}` | default | what it does | to docs/settings.md")
        if name not in example:
            problems.append(f"{name} is read in {path} but has no line in .env.example: add "
                            f"'# {name}=<default>' (or '{name}=' if it is required)")
    assert not problems, "\n".join(problems)


def test_docs_and_env_example_list_no_setting_that_nothing_reads():
    read = set(settings_read_by_code()) | compose_names() | {"UPSTREAM"}
    stale_docs = sorted(documented() - read)
    stale_example = sorted(in_env_example() - read)
    assert not stale_docs, f"docs/settings.md documents {stale_docs}, which nothing reads"
    assert not stale_example, f".env.example lists {stale_example}, which nothing reads"


def test_every_variable_compose_takes_from_env_is_documented():
    missing = sorted(compose_names() - documented() - {"UPSTREAM"})
    assert not missing, f"docker-compose.yml reads {missing} from .env: document them"
    assert not compose_names() - in_env_example(), "and give each a line in .env.example"


def test_the_documented_defaults_are_the_code_defaults():
    """The voices and numbers the table names are the ones the code uses."""
    from bot.config import Settings

    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for value in (Settings.voice_name, Settings.voice_name_es, Settings.voice_language,
                  Settings.voice_language_es, Settings.live_line_number,
                  Settings.crisis_line_number, Settings.helpline_name):
        assert value in text, f"docs/settings.md does not name the default {value!r}"
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name, value in (("VOICE_NAME", Settings.voice_name), ("HELPLINE_NAME", Settings.helpline_name),
                        ("QUIET_HOURS_START", str(Settings.quiet_start_hour))):
        assert f"# {name}={value}\n" in example, name


def test_compose_is_valid_yaml_with_an_env_file():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert spec["x-helpline"]["env_file"] == ".env"
