"""Every relative link in README.md and docs/*.md points at a file that exists, and every
`#anchor` at a heading of that file (GitHub's slugs). External links are not checked.

Plain file reading: no Redis, no app.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) and ![alt](target), optionally with a "title"; <target> allowed.
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
# [label]: target  (reference-style definitions)
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^(\s{0,3})(`{3,}|~{3,}).*?^\1\2`*\s*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")  # http:, https:, mailto:, ...


def _strip_code(text: str) -> str:
    """Links inside code blocks and code spans are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped except - and _, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    found.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text(encoding="utf-8")))
    return found


def links(path: Path) -> list[str]:
    text = _strip_code(path.read_text(encoding="utf-8"))
    return LINK.findall(text) + REF_DEF.findall(text)


def _cases():
    for page in PAGES:
        for target in links(page):
            if target and not EXTERNAL.match(target):
                yield pytest.param(page, target, id=f"{page.relative_to(ROOT)} -> {target}")


def test_pages_exist():
    assert (ROOT / "README.md").is_file()
    assert len(PAGES) > 1, "docs/*.md missing"


def test_slug_rules():
    assert slug("Privacy: what is stored, for how long, and why") == (
        "privacy-what-is-stored-for-how-long-and-why")
    assert slug('Reminders and "check on me"') == "reminders-and-check-on-me"
    assert slug("Dependencies (pinned in `requirements.txt`)") == (
        "dependencies-pinned-in-requirementstxt")
    assert slug("Scaling out") == "scaling-out"


@pytest.mark.parametrize("page,target", list(_cases()))
def test_relative_link_resolves(page: Path, target: str):
    where = f"{page.relative_to(ROOT)}: link to {target!r}"
    path_part, _, fragment = target.partition("#")
    dest = page if not path_part else (page.parent / unquote(path_part)).resolve()
    assert dest.exists(), f"{where}: {dest} does not exist"
    if fragment:
        assert dest.is_file() and dest.suffix == ".md", f"{where}: an anchor into a non-Markdown file"
        assert unquote(fragment).lower() in anchors(dest), (
            f"{where}: no heading in {dest.relative_to(ROOT)} makes the anchor #{fragment}")
