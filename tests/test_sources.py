"""Issue 24: the repository stands alone. Every source is described in docs/sources.md (title,
publisher, address, date read, trust, facts), every `source:` under content/ resolves there, and
nothing in the repository points outside it (../shared)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from bot.conversation.checks import SOURCES_DOC, allowed_sources, source_problems

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


def test_every_source_is_described_and_every_source_field_resolves():
    assert source_problems(CONTENT) == []
    assert len(allowed_sources(CONTENT)) >= 14


def test_each_description_gives_title_publisher_address_date_trust_and_facts():
    text = (ROOT / SOURCES_DOC).read_text(encoding="utf-8")
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    files = [s for s in sections if not s.startswith(("`public:", "`helpline`"))]
    assert len(files) == 8
    for section in files:
        for field in ("**Title:**", "**Publisher", "**Read:**", "**Trust:**", "**Supports:**"):
            assert field in section, (section.splitlines()[0], field)


def copy(tmp_path) -> Path:
    shutil.copytree(CONTENT, tmp_path / "content")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / SOURCES_DOC, tmp_path / SOURCES_DOC)
    return tmp_path / "content"


def test_a_source_without_its_description_fails_the_check(tmp_path):
    content = copy(tmp_path)
    doc = tmp_path / SOURCES_DOC
    doc.write_text(doc.read_text(encoding="utf-8").replace("### `mn-dhs-safe-recovery-sites.txt`",
                                                          "### Safe Recovery Sites"), encoding="utf-8")
    assert source_problems(content) == [
        "content/SOURCES.yaml: 'mn-dhs-safe-recovery-sites.txt' has no section in docs/sources.md "
        "(a heading `mn-dhs-safe-recovery-sites.txt`)"]


def test_a_site_naming_an_unknown_source_fails_the_check(tmp_path):
    content = copy(tmp_path)
    path = content / "mn" / "naloxone_sites.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["sites"][0]["source"] = "../shared/sources/some-page.txt"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert source_problems(content) == [
        "content/mn/naloxone_sites.yaml: source '../shared/sources/some-page.txt' is not in "
        "content/SOURCES.yaml and docs/sources.md"]


def repository_files() -> list[str]:
    try:
        return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # a copy without .git
        skip = {".git", ".venv", "var", "__pycache__", ".pytest_cache"}
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


def test_nothing_in_the_repository_points_outside_it():
    tracked = repository_files()
    outside = re.compile(r"\.\./shared|shared/sources|shared/DESIGN")
    hits = [name for name in tracked if not name.startswith("tests/")
            and (ROOT / name).is_file()
            and outside.search((ROOT / name).read_text(encoding="utf-8", errors="ignore"))]
    assert hits == []
