"""Grouped k-fold cross-validation over every labelled message (`understanding eval --cv`).

Why: the held-out sets were written by the same hands as the training data and rules were tuned
after reading them, so their figures flatter. Here every labelled message (training and held-out)
is read by a model that never saw it nor any near-duplicate of it: near-duplicates (same words
give or take a typo, fuzz.ratio >= NEAR) share a group, and a group is never split across folds.
The rules are the same in every fold (they are not fitted). Out-of-fold classifier scores are
also what the three answers' thresholds are chosen from (calibration table below).

Figures per language and per category: emergency, update, crisis, grief, legal, everyday (the
`other` intent), hypothetical (examples from files named hypothetical*), question (the rest).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.understanding import data
from bot.understanding.evaluate import heldout_rows
from bot.understanding.model import Model
from bot.understanding.reading import clip

NEAR = 88               # rapidfuzz ratio at or above which two messages are one group
BINS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001)


def category(intent: str, stem: str = "") -> str:
    if stem.startswith("hypothetical") and intent != "legal":
        return "hypothetical"
    if intent.startswith("update_"):
        return "update"
    if intent == "other":
        return "everyday"
    if intent in ("emergency", "crisis", "grief", "legal"):
        return intent
    return "question"


def labelled(content_dir: Path, heldout_dir: Path) -> list[tuple[str, str, str, str]]:
    """(text, intent, locale, category) of every training and held-out message."""
    rows = []
    for path in data.data_files(content_dir):
        if path.name == data.SETTINGS_FILE:
            continue
        rows += [(t, i, loc, category(i, path.stem))
                 for t, i, loc in data.read_intent_file(path, path.parent.parent.name)]
    rows += [(t, i, loc, category(i)) for t, i, loc in heldout_rows(heldout_dir)]
    return rows


def near_duplicate_groups(texts: list[str]) -> np.ndarray:
    """A group id per text: union-find over pairs at least NEAR similar (rapidfuzz, in C)."""
    from rapidfuzz import fuzz, process

    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    scores = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=NEAR, dtype=np.uint8,
                           workers=1)
    for i, j in zip(*np.nonzero(scores)):
        if i < j:
            parent[root(i)] = root(j)
    return np.array([root(i) for i in range(len(texts))])


@dataclass
class CVReport:
    folds: int
    rows: list = field(default_factory=list)   # (text, label, locale, category, Meaning, p_emergency, rule)
    groups: int = 0


def cross_validate(content_dir: Path, heldout_dir: Path, folds: int = 5) -> CVReport:
    """Fit `folds` models, each on the other folds' groups, and read the fold left out."""
    from sklearn.model_selection import StratifiedGroupKFold

    from bot.understanding.meaning import Understanding, _detector, training_texts

    rows = labelled(Path(content_dir), Path(heldout_dir))
    settings = data.load_examples(Path(content_dir)).settings
    detector = _detector(Path(content_dir))
    prepared = training_texts([(t, i, loc) for t, i, loc, _ in rows], detector)
    labels = np.array([i for _, i, _, _ in rows])
    groups = near_duplicate_groups(prepared)
    report = CVReport(folds, groups=len(set(groups.tolist())))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
    for train, test in splitter.split(prepared, labels, groups):
        model, _ = Model.train([prepared[i] for i in train], labels[train].tolist(), settings["C"])
        reader = Understanding(model, settings, detector)
        emergency = model.classes.index("emergency")
        for i in test:
            text, label, locale, cat = rows[i]
            meaning = reader.read(text, locale)
            p = float(reader.model.scores(clip(reader.reading(text)))[emergency])
            signal = meaning.signal
            report.rows.append((text, label, locale, cat, meaning, p,
                                signal.rule if signal and signal.kind == "emergency" else None))
    return report


def format_cv(report: CVReport) -> str:
    lines = [f"grouped {report.folds}-fold cross-validation: {len(report.rows)} messages in "
             f"{report.groups} near-duplicate groups"]
    acc: dict = defaultdict(lambda: [0, 0])
    flags: dict = defaultdict(lambda: [0, 0, 0])    # (locale, cat) -> sure, unsure, n
    for text, label, locale, cat, m, p, rule in report.rows:
        for key in ((locale, cat), (locale, "all"), ("all", cat), ("all", "all")):
            acc[key][0] += m.top == label
            acc[key][1] += 1
            flags[key][0] += m.emergency
            flags[key][1] += getattr(m, "unsure", False)
            flags[key][2] += 1
    cats = sorted({k[1] for k in acc})
    lines.append(f"  {'locale':<6} {'category':<13} {'n':>5} {'accuracy':>9} {'steps':>7} {'unsure':>7}")
    for locale in sorted({k[0] for k in acc}):
        for cat in cats:
            if (locale, cat) in acc:
                c, n = acc[(locale, cat)]
                s, u, _ = flags[(locale, cat)]
                lines.append(f"  {locale:<6} {cat:<13} {n:>5} {c / n:>9.1%} {s / n:>7.1%} {u / n:>7.1%}")
    lines.append("(steps: the full emergency steps; unsure: the one-line 911 prompt; on emergencies"
                 " these are recall, elsewhere false alarms)")
    lines.append("calibration of the classifier's out-of-fold emergency score, messages the rules"
                 " do not flag (P = share really an emergency or update):")
    binned: dict = defaultdict(lambda: [0, 0])
    for text, label, locale, cat, m, p, rule in report.rows:
        if rule is None:
            b = max(i for i, edge in enumerate(BINS) if p >= edge)
            binned[b][0] += label == "emergency"
            binned[b][1] += 1
    for b in sorted(binned):
        real, n = binned[b]
        lines.append(f"  score {BINS[b]:.2f}-{min(BINS[b + 1], 1):.2f}: {real}/{n} emergencies"
                     f" = {real / n:.0%}")
    ruled: dict = defaultdict(lambda: [0, 0])
    for text, label, locale, cat, m, p, rule in report.rows:
        if rule is not None:
            ruled[rule][0] += label in ("emergency",) or label.startswith("update_")
            ruled[rule][1] += 1
    lines.append("rules: share of the messages each flags that are emergencies or updates:")
    lines.append("  " + ", ".join(f"{r} {a}/{n}" for r, (a, n) in sorted(ruled.items(),
                                                                          key=lambda kv: -kv[1][1])))
    return "\n".join(lines)
