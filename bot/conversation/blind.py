"""Blind sets through the real engine: what a person who sent each message would get.

A blind set is a YAML list of {text, lang, kind, form, expect} written by people who never saw
the training data or the rules (docs/understanding.md). Each message goes through Engine.step as
a first text (a `voice` message through the phone line's engine as speech); a `kind: update` is
sent a minute after an emergency message, inside the emergency window. The answer a person gets
is one of three: the full emergency steps, the one-line "unsure" 911 prompt before an answer,
or just an answer. The figures are the issue's gate (issue 23, "Done when"):
- emergency recall: emergencies given the full steps or the unsure line;
- calm (grief, hypothetical, legal, question) and everyday messages given the full steps;
- grief given the grief screen; "not breathing" updates given a reply that starts "Good.";
- intent accuracy: the engine's reading (Meaning.top) equals `expect`.
PURE: the caller passes the engines and a render function (flask --app wsgi understanding eval
--blind FILE wires the app's).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable

import yaml

from bot.conversation.engine import Context, Engine, Outcome, State
from bot.conversation.intents import EMERGENCY

KINDS = ("emergency", "update", "grief", "hypothetical", "legal", "everyday", "crisis", "question")
FORMS = ("plain", "typo", "long", "voice", "nospace")
CALM = frozenset({"grief", "hypothetical", "legal", "question"})
UNSURE_KEY = "emergency.unsure"      # the one-line "someone not breathing now?" prompt
GRIEF_NODE = "grief"
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)
# The message that opens the emergency window before an update, per language of the update.
OPENERS = {"es": "mi amigo no respira", "en": "my friend is not breathing"}
_GOOD = re.compile(r"^\s*(?:good|bien)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Case:
    text: str
    lang: str
    kind: str
    form: str
    expect: str


@dataclass(frozen=True)
class Reading:
    """What the engine did with one case."""

    case: Case
    answer: str              # "steps", "unsure" or "answer"
    node: str                # where the conversation ended up
    keys: tuple[str, ...]    # the reply content keys, in order
    top: str | None          # the engine's reading of the message (Meaning.top)
    good: bool               # the reply starts with "Good." / "Bien."
    reply: str               # the rendered reply, for the misses list


def load_cases(path: Path) -> list[Case]:
    """A blind file; a wrong entry fails with its index and the field at fault."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a list of {{text, lang, kind, form, expect}}")
    cases = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not str(item.get("text", "")).strip():
            raise ValueError(f"{path}: entry {i}: needs a text")
        kind, form = str(item.get("kind", "")), str(item.get("form", "plain"))
        if kind not in KINDS or form not in FORMS:
            raise ValueError(f"{path}: entry {i}: kind {kind!r} / form {form!r} unknown")
        cases.append(Case(str(item["text"]), str(item.get("lang", "en")), kind, form,
                          str(item.get("expect", ""))))
    return cases


def _capturing(engine: Engine) -> tuple[Engine, list]:
    """The engine with its understanding wrapped, so the reading it acted on is kept."""
    seen: list = []
    understand = engine.understand

    def read(text, locale):
        found = understand(text, locale)
        seen.append(found)
        return found
    return (replace(engine, understand=read) if understand else engine), seen


def read_case(case: Case, engine: Engine, render: Callable[[Outcome, str], str],
              voice: Engine | None = None) -> Reading:
    """One case through the engine as a person would send it."""
    channel = "voice" if case.form == "voice" and voice is not None else "sms"
    base = voice if channel == "voice" else engine
    ctx = Context(channel=channel)
    locale = "es" if case.lang == "es" else "en"
    state: State | None = State(locale=locale) if channel == "voice" else None
    now = NOW
    if case.kind == "update":
        opened = base.step(state, OPENERS[locale], now, ctx)
        state, now = opened.state, now + timedelta(minutes=1)
    wrapped, seen = _capturing(base)
    outcome = wrapped.step(state, case.text, now, ctx)
    keys = tuple(r.key for r in outcome.replies)
    steps_key = base.flow.node(EMERGENCY).say
    answer = "steps" if steps_key in keys else "unsure" if UNSURE_KEY in keys else "answer"
    meaning = seen[-1] if seen else (base.understand(case.text, locale) if base.understand
                                     else None)
    try:
        reply = render(outcome, channel)
    except Exception:  # a screen whose values the harness cannot give: its keys say enough
        reply = " ".join(keys)
    return Reading(case, answer, outcome.state.node, keys, getattr(meaning, "top", None),
                   bool(_GOOD.match(reply)), reply)


def run(cases: Iterable[Case], engine: Engine, render, voice: Engine | None = None) -> list[Reading]:
    return [read_case(case, engine, render, voice) for case in cases]


# --- figures -------------------------------------------------------------------------------------
@dataclass
class Tally:
    n: int = 0
    hit: int = 0

    def add(self, ok: bool) -> None:
        self.n += 1
        self.hit += bool(ok)

    def __str__(self) -> str:
        return f"{self.hit}/{self.n} = {self.hit / self.n:.1%}" if self.n else "-"


METRICS = {
    # name: (which cases count, what counts as a hit)
    "emergency recall (steps or unsure)": (lambda r: r.case.kind == "emergency",
                                           lambda r: r.answer in ("steps", "unsure")),
    "emergency given the full steps": (lambda r: r.case.kind == "emergency",
                                       lambda r: r.answer == "steps"),
    "calm given the full steps": (lambda r: r.case.kind in CALM, lambda r: r.answer == "steps"),
    "calm given the unsure line": (lambda r: r.case.kind in CALM, lambda r: r.answer == "unsure"),
    "everyday given the full steps": (lambda r: r.case.kind == "everyday",
                                      lambda r: r.answer == "steps"),
    "everyday given the unsure line": (lambda r: r.case.kind == "everyday",
                                       lambda r: r.answer == "unsure"),
    "grief given the grief screen": (lambda r: r.case.kind == "grief",
                                     lambda r: r.node == GRIEF_NODE),
    "crisis given the crisis screen (or steps)": (lambda r: r.case.kind == "crisis",
                                                  lambda r: r.node == "crisis" or r.answer == "steps"),
    "update not breathing given 'Good.'": (
        lambda r: r.case.kind == "update" and r.case.expect == "update_not_breathing",
        lambda r: r.good),
    "update given its screen": (lambda r: r.case.kind == "update",
                                lambda r: r.node == r.case.expect or (
                                    r.case.expect == "update_not_breathing"
                                    and r.answer == "steps")),
    "intent accuracy (Meaning.top = expect)": (lambda r: True, lambda r: r.top == r.case.expect),
}


def figures(readings: list[Reading]) -> dict:
    """metric -> {"all": Tally, "lang:en": Tally, "form:typo": Tally, "kind:legal": Tally, ...}."""
    out: dict = {}
    for name, (counts, ok) in METRICS.items():
        table: dict = defaultdict(Tally)
        for r in readings:
            if not counts(r):
                continue
            for group in ("all", f"lang:{r.case.lang}", f"form:{r.case.form}",
                          f"kind:{r.case.kind}"):
                table[group].add(ok(r))
        out[name] = dict(table)
    return out


def is_miss(r: Reading) -> bool:
    """A case the gate counts against the helpline (the intent alone is not a miss)."""
    kind = r.case.kind
    return ((kind == "emergency" and r.answer == "answer")
            or (kind in CALM | {"everyday"} and r.answer == "steps")
            or (kind == "grief" and r.node != GRIEF_NODE)
            or (kind == "update" and r.case.expect == "update_not_breathing" and r.good))


def format_report(readings: list[Reading], title: str = "") -> str:
    lines = [f"blind set {title}: {len(readings)} messages"]
    counts = defaultdict(int)
    for r in readings:
        counts[(r.case.kind, r.answer)] += 1
    lines.append(f"  {'kind':<13} {'n':>4} {'steps':>6} {'unsure':>7} {'answer':>7}")
    for kind in KINDS:
        n = sum(counts[(kind, a)] for a in ("steps", "unsure", "answer"))
        if n:
            lines.append(f"  {kind:<13} {n:>4} {counts[(kind, 'steps')]:>6} "
                         f"{counts[(kind, 'unsure')]:>7} {counts[(kind, 'answer')]:>7}")
    for name, table in figures(readings).items():
        if not table:
            continue
        lines.append(f"{name}: {table['all']}")
        for dim in ("lang", "form", "kind"):
            parts = [f"{g.split(':', 1)[1]} {t.hit}/{t.n}" for g, t in sorted(table.items())
                     if g.startswith(dim + ":")]
            if len(parts) > 1:
                lines.append(f"    by {dim}: " + ", ".join(parts))
    misses = [r for r in readings if is_miss(r)]
    if misses:
        lines.append("misses (kind/form/lang expect -> answer node [top]: text):")
        lines.extend(f"  {r.case.kind}/{r.case.form}/{r.case.lang} {r.case.expect} -> {r.answer} "
                     f"{r.node} [{r.top}]: {r.case.text[:160]!r}" for r in misses)
    wrong = [r for r in readings if not is_miss(r) and r.top != r.case.expect]
    if wrong:
        lines.append("intent differs (kind expect -> top, node: text):")
        lines.extend(f"  {r.case.kind} {r.case.expect} -> {r.top}, {r.node}: {r.case.text[:120]!r}"
                     for r in wrong)
    return "\n".join(lines)
