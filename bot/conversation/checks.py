"""Content and flow checks for editors: every problem names the file, key or node and what to do."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import textstat
import yaml
from textstat.textstat import textstatistics

from bot.conversation.content import Content, ContentError, segments
from bot.conversation.flows import Flow
from bot.conversation.safety import RuleError, check_renderings, load_rules

MAX_SMS_SEGMENTS = 3
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


def spanish_ease(text: str) -> float:
    """Fernández-Huerta reading ease of a Spanish text (higher is easier)."""
    return _SPANISH.fernandez_huerta(text) if text else 100.0


def allowed_sources(content_dir: Path) -> set[str]:
    data = yaml.safe_load((Path(content_dir) / "SOURCES.yaml").read_text(encoding="utf-8"))
    return set(data.get("sources", {}))


def check_content(content: Content, flow: Flow) -> tuple[list[Report], list[str]]:
    """Render every message in every language; return reports and a list of errors."""
    errors: list[str] = []
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
                grade = textstat.flesch_kincaid_grade(text) if text else 0.0
                ease = spanish_ease(text) if locale == "es" else None
                reports.append(Report(locale, key, channel, seg.count, seg.encoding, grade, text,
                                      ease))
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
