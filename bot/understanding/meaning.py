"""What a message means, in one value: Meaning (emergency, crisis, top intents, place).

Understanding.read() puts together three readers: the emergency and crisis rules (signals.py,
the floor: a message they flag is an emergency whatever the classifier says), the trained intent
classifier (model.py, which may add an emergency the rules miss, above a cautious threshold),
and the place finder (places.py). The contract with the engine is in docs/understanding.md.

Cost: from_dir trains once per data hash and keeps the fitted numbers per process and on disk
(a warm start loads a checked numpy archive from a private folder, cache.py, in milliseconds);
read() is memoised per text.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from bot.understanding import data as examples_data
from bot.understanding.cache import ModelCache, default_cache_dir
from bot.understanding.model import Model, code_version, prepare
from bot.understanding.places import PlaceFinder
from bot.understanding.signals import MAX_CHARS, SignalDetector

__all__ = ["Meaning", "Understanding", "default_cache_dir"]
log = logging.getLogger(__name__)
MEMO_MAX = 20_000
TOP_N = 3

# One fitted model per data hash per process: create_app() runs in every test and worker.
_MODELS: dict[str, tuple[Model, dict]] = {}
_DETECTORS: dict[str, SignalDetector] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Meaning:
    emergency: bool                           # overdose in progress NOW: rules OR classifier
    crisis: bool                              # suicidal crisis NOW: rules OR classifier
    intents: tuple[tuple[str, float], ...]    # top 3 (intent, score 0..1), best first
    confident: bool                           # top score >= settings "confident"
    place: str | None                         # MN ZIP (ASCII digits) or canonical town name

    @property
    def top(self) -> str | None:
        return self.intents[0][0] if self.intents else None


class Understanding:
    """Reads messages. `source` says where the model came from: "memory", "disk" or "trained"."""

    def __init__(self, model: Model, settings: dict, detector: SignalDetector,
                 towns: Iterable[str] = (), source: str = "trained", data_hash: str = ""):
        self.model = model
        self.settings = settings
        self.detector = detector
        self.places = PlaceFinder(towns)
        self.source = source
        self.data_hash = data_hash
        self._emergency = model.classes.index("emergency")
        self._crisis = model.classes.index("crisis")
        self._memo: dict[tuple[str, str | None], Meaning] = {}

    @classmethod
    def from_dir(cls, content_dir: Path, towns: Iterable[str] = (),
                 cache_dir: Path | None = None,
                 detector: SignalDetector | None = None) -> "Understanding":
        """Load the model for content_dir's examples: from this process, from disk, or by
        training (deterministic). A missing, unreadable or corrupt archive just retrains.
        cache_dir defaults to default_cache_dir(); a caller that already has the emergency
        rules loaded (the helpline does) may pass its SignalDetector instead of a second one."""
        content_dir = Path(content_dir)
        key = examples_data.data_hash(content_dir, code_version())
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        with _LOCK:
            source = "memory"
            if key not in _MODELS:
                _MODELS[key], source = _load_or_train(content_dir, key, cache_dir)
            detector = detector or _detector(content_dir)
        model, settings = _MODELS[key]
        return cls(model, settings, detector, towns, source, key)

    def read(self, text: str, locale: str | None = None) -> Meaning:
        """The meaning of one message; never raises on odd text (any script, empty, huge)."""
        if not isinstance(text, str):
            text = ""
        memo_key = (text, locale)
        found = self._memo.get(memo_key)
        if found is None:
            found = self._read(text)
            if len(self._memo) >= MEMO_MAX:
                self._memo.clear()
            self._memo[memo_key] = found
        return found

    def _read(self, text: str) -> Meaning:
        signal = self.detector.detect(text)
        norm = prepare(text)
        probs = self.model.scores(norm)
        order = probs.argsort()[::-1][:TOP_N]
        intents = tuple((self.model.classes[i], round(float(probs[i]), 4)) for i in order)
        rules = signal.kind if signal is not None else None
        # The rules are the floor; the classifier may add an emergency or a crisis they missed,
        # but not turn what the rules read as a crisis into an overdose.
        emergency = rules == "emergency" or (
            rules != "crisis" and float(probs[self._emergency]) >= self.settings["emergency_classifier"])
        crisis = rules == "crisis" or float(probs[self._crisis]) >= self.settings["crisis_classifier"]
        return Meaning(emergency=emergency, crisis=crisis and not emergency, intents=intents,
                       confident=bool(intents) and intents[0][1] >= self.settings["confident"],
                       place=self.places.find(text[:MAX_CHARS]))


def _detector(content_dir: Path) -> SignalDetector:
    key = hashlib.sha256(b"".join(
        p.read_bytes() for p in sorted(content_dir.glob("*/keywords.yaml")))).hexdigest()
    if key not in _DETECTORS:
        _DETECTORS[key] = SignalDetector.from_dir(content_dir)
    return _DETECTORS[key]


def _load_or_train(content_dir: Path, key: str, cache_dir: Path) -> tuple[tuple[Model, dict], str]:
    """The thresholds are always the current settings files' (never the cache's); the fitted
    numbers come from a checked archive in a private folder (cache.py), else a fresh fit."""
    examples = examples_data.load_examples(content_dir)
    cache = ModelCache(cache_dir)
    model = cache.load(key, examples.settings)
    if model is not None:
        return (model, examples.settings), "disk"
    texts = [prepare(text) for text, _, _ in examples.rows]
    labels = [intent for _, intent, _ in examples.rows]
    model, _ = Model.train(texts, labels, examples.settings["C"])
    cache.save(key, examples.settings, model)
    return (model, examples.settings), "trained"
