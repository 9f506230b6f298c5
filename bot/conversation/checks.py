"""Content and flow checks for editors: every problem names the file, key or node and what to do."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import textstat
import yaml
from textstat.textstat import textstatistics

from bot.conversation.content import Content, ContentError, segments
from bot.conversation.flows import Flow
from bot.conversation.safety import RuleError, check_renderings, load_rules

MAX_SMS_SEGMENTS = 3
# Reading level of every texted message (issue 24): English Flesch-Kincaid grade at most 8, and
# at most 6 on the screens read during an overdose; Spanish Fernández-Huerta ease at least 60.
# The voice.* entries' SMS lines are never texted (content/en/voice.yaml), so they are not held.
MAX_GRADE, MAX_GRADE_URGENT, MIN_EASE = 8.0, 6.0, 60.0
URGENT = ("emergency.", "update.")
NOT_TEXTED = ("voice.",)
_LINE_END = re.compile(r"[.!?:;,]$")
# Spanish is measured with a Spanish formula: Fernández-Huerta reading ease (0-100, higher is
# easier; 70-80 is about 6th-7th grade). Its own instance, since set_lang is per instance.
_SPANISH = textstatistics()
_SPANISH.set_lang("es")


@dataclass(frozen=True)
class Report:
    locale: str
    key: str
    channel: str
    segments: int
    encoding: str
    grade: float
    text: str
    ease: float | None = None  # Spanish only: Fernández-Huerta reading ease


def as_read(text: str) -> str:
    """The text as a person reads it: a line break ends a sentence (a list item, a footer), as
    the phone line already reads it (bot/voice/twiml.spoken); without this, a list of five
    names counts as one long sentence."""
    lines = [line.strip(" -") for line in text.splitlines()]
    return " ".join(line if _LINE_END.search(line) else f"{line}." for line in lines if line)


def grade(text: str) -> float:
    """Flesch-Kincaid grade of an English text as read."""
    return textstat.flesch_kincaid_grade(as_read(text)) if text else 0.0


def spanish_ease(text: str) -> float:
    """Fernández-Huerta reading ease of a Spanish text as read (higher is easier)."""
    return _SPANISH.fernandez_huerta(as_read(text)) if text else 100.0


def reading_problem(locale: str, key: str, text: str) -> str | None:
    """Why a texted message reads too hard, or None."""
    if key.startswith(NOT_TEXTED):
        return None
    if locale == "es":
        ease = spanish_ease(text)
        return (f"reads at Fernández-Huerta {ease:.1f}; keep a Spanish SMS at {MIN_EASE:.0f} or "
                "more (shorter sentences, shorter words)") if ease < MIN_EASE else None
    if locale != "en":
        return None  # a new language names its own formula here
    limit = MAX_GRADE_URGENT if key.startswith(URGENT) else MAX_GRADE
    level = grade(text)
    return (f"reads at grade {level:.1f}; keep it at grade {limit:.0f} or below (shorter "
            "sentences, shorter words)") if level > limit else None


def allowed_sources(content_dir: Path) -> set[str]:
    data = yaml.safe_load((Path(content_dir) / "SOURCES.yaml").read_text(encoding="utf-8"))
    return set(data.get("sources", {}))


SOURCES_DOC = Path("docs") / "sources.md"
_DOC_SOURCE = re.compile(r"^#{2,4}\s+`([^`]+)`\s*$", re.M)


def source_problems(content_dir: Path) -> list[str]:
    """Every source is described in docs/sources.md, and every `source:` under content/ (entries,
    sites, region numbers, safety rules) names one: the repository stands alone (issue 24)."""
    content_dir = Path(content_dir)
    listed = allowed_sources(content_dir)
    doc = content_dir.parent / SOURCES_DOC
    try:
        described = set(_DOC_SOURCE.findall(doc.read_text(encoding="utf-8")))
    except OSError:
        return [f"{SOURCES_DOC}: missing; every source needs its description there"]
    errors = [f"content/SOURCES.yaml: {s!r} has no section in {SOURCES_DOC} (a heading `{s}`)"
              for s in sorted(listed - described)]
    errors += [f"{SOURCES_DOC}: section `{s}` is not in content/SOURCES.yaml"
               for s in sorted(described - listed)]
    for path in sorted(content_dir.rglob("*.yaml")):
        if path.name == "SOURCES.yaml":
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name in sorted(set(_named_sources(data)) - listed):
            errors.append(f"content/{path.relative_to(content_dir)}: source {name!r} is not in "
                          f"content/SOURCES.yaml and {SOURCES_DOC}")
    return errors


def _named_sources(data):
    """Every value under a `source:` key, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "source":
                yield from ([value] if isinstance(value, str) else value or ())
            else:
                yield from _named_sources(value)
    elif isinstance(data, list):
        for item in data:
            yield from _named_sources(item)


def check_content(content: Content, flow: Flow) -> tuple[list[Report], list[str]]:
    """Render every message in every language; return reports and a list of errors."""
    errors: list[str] = source_problems(content.dir)
    reports: list[Report] = []
    sources = allowed_sources(content.dir)
    default_keys = content.keys()
    for key in sorted(flow.content_keys() - default_keys):
        errors.append(f"flows: content key {key!r} is used by a flow but missing in "
                      f"{content.default}/")
    for locale in content.locales:
        for key in sorted(default_keys - content.keys(locale)):
            errors.append(f"{locale}/: key {key!r} is missing (it exists in {content.default}/)")
        for key, entry in sorted(content.entries[locale].items()):
            errors += [f"{entry.file}: {key}: unknown source {s!r} (add it to content/SOURCES.yaml)"
                       for s in entry.source if s not in sources]
            if not entry.source:
                errors.append(f"{entry.file}: {key}: no 'source'; every fact names its source")
            raw = yaml.safe_load(Path(content.dir, entry.file).read_text(encoding="utf-8"))[key]
            params = raw.get("example") or {}
            budget = int(raw.get("max_segments", MAX_SMS_SEGMENTS))
            for channel in ("sms", "voice"):
                try:
                    text = content.render(key, locale, channel, params)
                except ContentError as exc:
                    errors.append(str(exc))
                    continue
                except Exception as exc:  # a Jinja error names the template problem
                    errors.append(f"{entry.file}: {key} ({channel}): {type(exc).__name__}: {exc}")
                    continue
                seg = segments(text)
                level = grade(text)
                ease = spanish_ease(text) if locale == "es" else None
                reports.append(Report(locale, key, channel, seg.count, seg.encoding, level, text,
                                      ease))
                hard = reading_problem(locale, key, text) if channel == "sms" else None
                if hard:
                    errors.append(f"{entry.file}: {key}: SMS {hard}")
                if channel == "sms" and seg.count > budget:
                    errors.append(f"{entry.file}: {key}: SMS is {seg.count} segments "
                                  f"({seg.encoding}, {seg.units} units); the limit is {budget}")
    errors += safety_problems(content, reports)
    return reports, errors


def safety_problems(content: Content, reports: list[Report]) -> list[str]:
    """content/safety_rules.yaml applied to every rendering (bot/conversation/safety.py)."""
    try:
        rules = load_rules(content.dir, content.locales)
    except RuleError as exc:
        return [str(exc)]
    entries = {(loc, key): e for loc, keyed in content.entries.items() for key, e in keyed.items()}
    # A voice rendering counts where the entry has words for the ear; the others fall back to
    # their SMS text, which bot/voice/checks.py already holds to the phone's rules.
    return check_renderings(rules, ((entries[(r.locale, r.key)].file, r.key, r.locale, r.channel,
                                     r.text) for r in reports
                                    if r.channel == "sms" or entries[(r.locale, r.key)].voice))
