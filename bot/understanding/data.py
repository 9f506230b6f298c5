"""The intent examples and settings, read from content/<locale>/understanding/*.yaml.

Why a separate module: the model (model.py), the held-out evaluation (evaluate.py) and the CLI
all read the same files the same way, and the data's hash is what the trained model is cached by.
Each file maps an intent name to a list of messages; `settings.yaml` holds the thresholds.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

INTENTS = (
    "emergency", "crisis",
    "update_breathing", "update_not_breathing", "update_no_naloxone", "update_called_911",
    "update_help_arrived", "update_woke_up",
    "overdose_signs", "overdose_steps", "naloxone_what", "naloxone_use", "naloxone_safe",
    "naloxone_where", "naloxone_otc", "legal", "treatment", "tx_meds", "tx_find", "safer",
    "fentanyl_xylazine", "talk", "grief", "checkin_start", "checkin_stop", "checkin_pause",
    "checkin_resume", "checkin_status", "reminder", "forget", "privacy", "help", "stop",
    "greeting", "thanks", "menu", "other",
)
UPDATES = tuple(name for name in INTENTS if name.startswith("update_"))
SETTINGS_FILE = "settings.yaml"
DEFAULT_SETTINGS = {
    "confident": 0.45,             # top score below this: the engine asks what the person meant
    "emergency_classifier": 0.9,   # the classifier alone: SURE (the full steps) at or above this
    "emergency_unsure": 0.3,       # the classifier alone: a POSSIBLE emergency (the 911 line)
    "emergency_agree": 0.5,        # rules in a past/what-if/... frame: sure when the classifier's
                                   # danger vote (emergency + still not breathing) reaches this
    "emergency_veto": 0.1,         # below this danger vote, with a confident calm intent, rules
                                   # read as now are only a possible emergency
    "crisis_classifier": 0.6,
    "C": 1.0,                      # inverse regularisation of the linear SVM
}

try:                                       # the C loader is ~10x faster on the example files
    _Loader = yaml.CSafeLoader
except AttributeError:                     # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


class ExamplesError(ValueError):
    """An examples file is wrong; the message names the file and the problem."""


@dataclass(frozen=True)
class Examples:
    """Labelled messages: (text, intent, locale) triples, in a fixed order."""

    rows: tuple[tuple[str, str, str], ...]
    settings: dict = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        """locale -> intent -> number of examples."""
        out: dict[str, dict[str, int]] = {}
        for _, intent, locale in self.rows:
            per = out.setdefault(locale, {})
            per[intent] = per.get(intent, 0) + 1
        return out


def data_files(content_dir: Path) -> list[Path]:
    """Every understanding file, sorted, so the hash does not depend on the file system."""
    return sorted(Path(content_dir).glob("*/understanding/*.yaml"))


def data_hash(content_dir: Path, extra: str = "") -> str:
    """sha256 of the files' names and bytes (and `extra`: versions of the code that fits them)."""
    digest = hashlib.sha256(extra.encode())
    for path in data_files(content_dir):
        digest.update(f"{path.parent.parent.name}/{path.name}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def read_intent_file(path: Path, locale: str) -> list[tuple[str, str, str]]:
    """(text, intent, locale) rows of one file; unknown intents and non-text entries fail loudly."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        raise ExamplesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ExamplesError(f"{path}: expected intent: [messages]")
    rows = []
    for intent, messages in data.items():
        if intent not in INTENTS:
            raise ExamplesError(f"{path}: unknown intent {intent!r} (see bot/understanding/data.py)")
        for text in messages or []:
            if not isinstance(text, (str, int)) or not str(text).strip():
                raise ExamplesError(f"{path}: {intent}: {text!r} is not a message")
            rows.append((str(text), str(intent), locale))
    return rows


def load_examples(content_dir: Path) -> Examples:
    """Every locale's examples and the merged settings (defaults, then each settings.yaml)."""
    rows: list[tuple[str, str, str]] = []
    settings = dict(DEFAULT_SETTINGS)
    for path in data_files(content_dir):
        locale = path.parent.parent.name
        if path.name == SETTINGS_FILE:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
            unknown = set(raw) - set(DEFAULT_SETTINGS)
            if unknown:
                raise ExamplesError(f"{path}: unknown settings {sorted(unknown)}")
            settings.update({k: float(v) for k, v in raw.items()})
            continue
        rows.extend(read_intent_file(path, locale))
    if not rows:
        raise ExamplesError(f"no examples under {content_dir}/*/understanding/")
    missing = set(INTENTS) - {intent for _, intent, _ in rows}
    if missing:
        raise ExamplesError(f"intents without examples: {sorted(missing)}")
    return Examples(tuple(rows), settings)


def load_heldout(path: Path, locale: str) -> list[tuple[str, str, str]]:
    """A held-out file has the same shape as an examples file."""
    return read_intent_file(Path(path), locale)
