"""Measure the understanding layer on the held-out sets (tests/data/understanding_heldout_*.yaml).

One function computes the figures that `flask --app wsgi understanding eval`, the tests and
docs/understanding.md use, so they cannot disagree. Definitions:
- accuracy: the top intent is the label.
- emergency recall: messages labelled `emergency` given the full steps (Meaning.emergency) or the
  one-line 911 prompt (Meaning.unsure): either way the person is told to call 911 first.
- false alarms: the full steps (Meaning.emergency) on messages labelled neither `emergency` nor
  `update_*` (updates are only read inside an emergency, where the flag changes nothing).
- crisis recall: messages labelled `crisis` flagged as crisis (or as an emergency, which wins).
- law/emergency confusion: `legal` messages flagged as an emergency, and `emergency` messages
  not flagged whose top intent is `legal`.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bot.understanding.data import UPDATES, load_heldout


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    by_locale: dict = field(default_factory=dict)        # locale -> (correct, total)
    per_intent: dict = field(default_factory=dict)       # locale -> intent -> (precision, recall, n)
    emergency_found: int = 0
    emergency_total: int = 0
    false_alarms: int = 0
    non_emergency_total: int = 0
    legal_as_emergency: int = 0
    legal_total: int = 0
    emergency_as_legal: int = 0
    crisis_found: int = 0
    crisis_total: int = 0
    crisis_false: int = 0                                # crisis flag on a message not labelled crisis
    misses: list = field(default_factory=list)           # (locale, label, text, top, emergency)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def emergency_recall(self) -> float:
        return self.emergency_found / self.emergency_total if self.emergency_total else 1.0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.non_emergency_total if self.non_emergency_total else 0.0

    def as_dict(self) -> dict:
        return {"accuracy": round(self.accuracy, 4),
                "accuracy_by_locale": {loc: round(c / t, 4) for loc, (c, t) in self.by_locale.items()},
                "messages_by_locale": {loc: t for loc, (_, t) in self.by_locale.items()},
                "emergency_recall": round(self.emergency_recall, 4),
                "emergency": f"{self.emergency_found}/{self.emergency_total}",
                "false_alarm_rate": round(self.false_alarm_rate, 4),
                "false_alarms": f"{self.false_alarms}/{self.non_emergency_total}",
                "legal_read_as_emergency": f"{self.legal_as_emergency}/{self.legal_total}",
                "emergency_read_as_legal": self.emergency_as_legal,
                "crisis_recall": f"{self.crisis_found}/{self.crisis_total}",
                "crisis_flag_on_others": self.crisis_false}


def heldout_rows(data_dir: Path) -> list[tuple[str, str, str]]:
    """(text, intent, locale) of every tests/data/understanding_heldout_<locale>.yaml."""
    rows = []
    for path in sorted(Path(data_dir).glob("understanding_heldout_*.yaml")):
        rows.extend(load_heldout(path, path.stem.rsplit("_", 1)[-1]))
    return rows


def evaluate(understanding, rows: list[tuple[str, str, str]]) -> Report:
    """Read every row (as a new message: no memo from another row) and count."""
    report = Report()
    hits: dict = defaultdict(Counter)        # locale -> Counter of (label, predicted)
    for text, label, locale in rows:
        meaning = understanding.read(text, locale)
        top = meaning.top
        report.total += 1
        ok = top == label
        report.correct += ok
        c, t = report.by_locale.get(locale, (0, 0))
        report.by_locale[locale] = (c + ok, t + 1)
        hits[locale][(label, top)] += 1
        if label == "emergency":
            report.emergency_total += 1
            found = meaning.emergency or getattr(meaning, "unsure", False)
            report.emergency_found += found
            report.emergency_as_legal += (not found and top == "legal")
        elif label not in UPDATES:
            report.non_emergency_total += 1
            report.false_alarms += meaning.emergency
        if label == "crisis":
            report.crisis_total += 1
            report.crisis_found += meaning.crisis or meaning.emergency
        else:
            report.crisis_false += meaning.crisis
        if label == "legal":
            report.legal_total += 1
            report.legal_as_emergency += meaning.emergency
        flagged = meaning.emergency or (label == "emergency" and getattr(meaning, "unsure", False))
        if not ok or (label == "emergency") != flagged and label not in UPDATES:
            report.misses.append((locale, label, text, top, flagged))
    for locale, pairs in hits.items():
        labels = {lab for lab, _ in pairs} | {pred for _, pred in pairs if pred}
        table = {}
        for intent in sorted(labels):
            tp = pairs[(intent, intent)]
            predicted = sum(n for (_, p), n in pairs.items() if p == intent)
            actual = sum(n for (lab, _), n in pairs.items() if lab == intent)
            table[intent] = (tp / predicted if predicted else 0.0, tp / actual if actual else 0.0,
                             actual)
        report.per_intent[locale] = table
    return report


def format_report(report: Report) -> str:
    """The table `understanding eval` prints."""
    lines = []
    for locale, table in sorted(report.per_intent.items()):
        c, t = report.by_locale[locale]
        lines.append(f"[{locale}] accuracy {c}/{t} = {c / t:.1%}")
        lines.append(f"  {'intent':<22} {'precision':>9} {'recall':>7} {'n':>4}")
        for intent, (p, r, n) in table.items():
            lines.append(f"  {intent:<22} {p:>9.2f} {r:>7.2f} {n:>4}")
    lines.append(f"overall accuracy {report.correct}/{report.total} = {report.accuracy:.1%}")
    lines.append(f"emergency recall (steps or the unsure line) {report.emergency_found}/"
                 f"{report.emergency_total} = {report.emergency_recall:.1%}")
    lines.append(f"false alarms on non-emergency messages {report.false_alarms}/"
                 f"{report.non_emergency_total} = {report.false_alarm_rate:.1%}")
    lines.append(f"law vs emergency: legal read as emergency {report.legal_as_emergency}/"
                 f"{report.legal_total}; emergency read as legal {report.emergency_as_legal}/"
                 f"{report.emergency_total}")
    lines.append(f"crisis recall (crisis or emergency flag) {report.crisis_found}/{report.crisis_total}; "
                 f"crisis flag on other messages {report.crisis_false}")
    if report.misses:
        lines.append("misses (locale, label, top intent, emergency flag: text):")
        lines.extend(f"  {loc} {label} -> {top} {'EMERGENCY' if em else ''}: {text}"
                     for loc, label, text, top, em in report.misses)
    return "\n".join(lines)
