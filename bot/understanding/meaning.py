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
from bot.understanding.model import Model, code_version
from bot.understanding.places import PlaceFinder
from bot.understanding.reading import clip, current_clause, split_runs
from bot.understanding.signals import MAX_CHARS, Signal, SignalDetector, normalize

__all__ = ["Meaning", "Understanding", "default_cache_dir"]
log = logging.getLogger(__name__)
MEMO_MAX = 20_000
MEMO_CHARS = 480          # texts longer than three SMS segments are read, not remembered
TOP_N = 3

# One fitted model per data hash per process: create_app() runs in every test and worker.
_MODELS: dict[str, tuple[Model, dict]] = {}
_DETECTORS: dict[str, SignalDetector] = {}
_LOCK = threading.Lock()


# Intents that say someone is in danger now: their scores are the classifier's vote for an emergency.
DANGER = ("emergency", "update_not_breathing")
# Frames in which the rules' words are at most a possible emergency, whatever the classifier says:
# "what do i do if someone stops breathing" is a lesson, "he wasnt breathing when i found him last
# year" a memory, even when they read like an emergency. (Something near the words that says now,
# "5 minutes ago", "hes", takes them out of the frame: bot/understanding/signals.py.)
ONLY_POSSIBLE = frozenset({"hypothetical", "learning", "past", "grief"})
# Intents that may overrule the rules' "now" (to the unsure line): everyday life and grief. A
# question about the law or naloxone asked with someone in danger ("hes not breathing, will i get
# arrested") stays an emergency.
CALM = frozenset({"other", "grief"})
SHORT_WORDS = 3          # "911", "call 911 now", "od": a word rule alone is the message, so it is sure
GRIEF_MIN = 0.25         # grief on top of the classifier's scores, and words of a loss: grief, confidently


@dataclass(frozen=True)
class Meaning:
    emergency: bool                           # SURE: an overdose in progress NOW -> the full steps
    crisis: bool                              # suicidal crisis NOW: rules OR classifier
    intents: tuple[tuple[str, float], ...]    # top 3 (intent, score 0..1), best first
    confident: bool                           # top score >= settings "confident"
    place: str | None                         # MN ZIP (ASCII digits) or canonical town name
    unsure: bool = False                      # a POSSIBLE emergency: one 911 line, then the answer
    signal: Signal | None = None              # the rule that fired (read once per message)
    doubt: bool = False                       # the current state is not clearly fine: never "Good."
    words: int = 0                            # words read (after splitting run-together text)
    read_rules: bool = False                  # the rules were read (signal is theirs, even None)

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
        self._danger = [model.classes.index(c) for c in DANGER if c in model.classes]
        self._memo: dict[tuple[str, str | None], Meaning] = {}
        # Known words and their cost (idf: rare words cost more) for splitting run-together text.
        self._costs = model.word_costs()
        self._runs: dict[str, list[str] | None] = {}
        self._transition = detector.patterns.get("transition")
        self._doubt = detector.patterns.get("doubt")
        self._everyday = detector.patterns.get("everyday")
        self._loss = [detector.patterns[f] for f in ("grief", "past") if f in detector.patterns]

    @classmethod
    def from_dir(cls, content_dir: Path, towns: Iterable[str] = (),
                 cache_dir: Path | None = None,
                 detector: SignalDetector | None = None) -> "Understanding":
        """Load the model for content_dir's examples: from this process, from disk, or by
        training (deterministic). A missing, unreadable or corrupt archive just retrains.
        cache_dir defaults to default_cache_dir(); a caller that already has the emergency
        rules loaded (the helpline does) may pass its SignalDetector instead of a second one."""
        content_dir = Path(content_dir)
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        with _LOCK:
            detector = detector or _detector(content_dir)
            key = examples_data.data_hash(content_dir, code_version() + detector.signature())
            source = "memory"
            if key not in _MODELS:
                _MODELS[key], source = _load_or_train(content_dir, key, cache_dir, detector)
        model, settings = _MODELS[key]
        return cls(model, settings, detector, towns, source, key)

    def read(self, text: str, locale: str | None = None) -> Meaning:
        """The meaning of one message; never raises on odd text (any script, empty, huge)."""
        if not isinstance(text, str):
            text = ""
        text = text[:MAX_CHARS]  # nothing past 1,600 characters is read, so none is a key
        memo_key = (text, locale)
        found = self._memo.get(memo_key)
        if found is None:
            found = self._read(text)
            if len(text) <= MEMO_CHARS:  # long stories are not sent twice; keep the memo small
                if len(self._memo) >= MEMO_MAX:
                    self._memo.clear()
                self._memo[memo_key] = found
        return found

    def reading(self, text: str) -> str:
        """The text every reader sees: normalized, run-together words split, negation typos
        fixed ("hesnotbreathing", "he is nto breathing" -> "hes not breathing")."""
        norm = normalize(text[:MAX_CHARS])
        return self.detector.respell(split_runs(norm, self._costs, self._runs))

    def _read(self, text: str) -> Meaning:
        norm = self.reading(text)
        signal = self.detector.detect_normalized(norm)  # the only run of the rules
        probs = self.model.scores(clip(norm))
        order = probs.argsort()[::-1][:TOP_N]
        intents = tuple((self.model.classes[i], round(float(probs[i]), 4)) for i in order)
        # No word the examples ever used ("qwerty zxcv"): the scores are the model's prior, not a reading.
        known = any(w in self._costs for w in norm.split())
        confident = known and bool(intents) and intents[0][1] >= self.settings["confident"]
        # "mi mama se murio de una overdose ... i miss her": the words of a loss agree with a
        # grief the classifier puts first but below `confident`: the grief screen, not a menu
        if (not confident and intents and intents[0][0] == "grief" and intents[0][1] >= GRIEF_MIN
                and any(rx.search(norm) for rx in self._loss)):
            confident = True
        sure, unsure = self._urgency(signal, probs, intents, confident, len(norm.split()),
                                     everyday=bool(self._everyday and self._everyday.search(norm)))
        crisis = (signal is not None and signal.kind == "crisis") or \
            float(probs[self._crisis]) >= self.settings["crisis_classifier"]
        # the current state ("was breathing but now hes not" -> "hes not") only matters when a
        # doubt word is there at all
        doubt = bool(self._doubt and self._doubt.search(norm)
                     and self._doubt.search(current_clause(norm, self._transition)))
        return Meaning(emergency=sure, crisis=crisis and not sure, intents=intents,
                       confident=confident, place=self.places.find(text[:MAX_CHARS]),
                       unsure=unsure and not sure, signal=signal,
                       doubt=doubt,
                       words=len(norm.split()), read_rules=True)

    def _urgency(self, signal, probs, intents, confident: bool, words: int,
                 everyday: bool = False) -> tuple[bool, bool]:
        """(sure, unsure): the rules and the classifier vote (docs/understanding.md, "Three
        answers"). A person in danger read as now (the rules) is sure unless the classifier is
        confident the message is something calm; a word rule ("911", "overdose") read as now is
        sure only when the classifier's danger vote agrees; rules in a what-if or a lesson are at
        most possible; in the past, grief, the law or everyday life, sure only when the classifier
        agrees. Possible (the unsure line) unless the classifier is confident it is calm. The
        classifier alone: sure at or above `emergency_classifier`, possible at `emergency_unsure`;
        in a message about everyday life ("the dog wont wake up from his nap 😂") at most possible:
        no rule saw a person in danger, and the classifier's score there is its prior for
        "wont wake up", not a reading of the pet or the nap."""
        settings = self.settings
        danger = float(sum(probs[i] for i in self._danger))
        # A word or three ("he overdosed", "tuvo una sobredosis") is too little context for the
        # classifier to outvote the rules: when in doubt, emergency.
        calm = (words > SHORT_WORDS and confident and intents[0][0] in CALM
                and danger < settings["emergency_veto"])
        if signal is not None and signal.kind == "emergency":
            agree = danger >= settings["emergency_agree"]
            short = words <= SHORT_WORDS
            # in a word or three ("tuvo una sobredosis") a past tense is too little context
            if not signal.word and (signal.frame is None
                                    or (short and signal.frame not in ("hypothetical", "learning"))):
                return not calm, calm                    # a person in danger, read as now
            if signal.frame is None:                     # a word ("911", "overdose") read as now
                return agree or short, not (agree or short) and not calm  # "911": the rule
            if signal.frame in ONLY_POSSIBLE or signal.word:
                return False, not calm                   # a what-if, a lesson, the past, a framed word
            return agree, not agree and not calm         # the law, everyday life: if both say so
        if signal is not None and signal.kind == "crisis":
            return False, False  # the rules read a crisis: the classifier may not make it an overdose
        p = float(probs[self._emergency])
        sure = p >= settings["emergency_classifier"] and not everyday
        return sure, p >= settings["emergency_unsure"] and not sure


def _detector(content_dir: Path) -> SignalDetector:
    key = hashlib.sha256(b"".join(
        p.read_bytes() for p in sorted(content_dir.glob("*/keywords.yaml")))).hexdigest()
    if key not in _DETECTORS:
        _DETECTORS[key] = SignalDetector.from_dir(content_dir)
    return _DETECTORS[key]


def training_texts(rows, detector: SignalDetector) -> list[str]:
    """The examples as the model reads messages: normalized, clipped, negation typos fixed."""
    return [clip(detector.respell(normalize(text[:MAX_CHARS]))) for text, _, _ in rows]


def _load_or_train(content_dir: Path, key: str, cache_dir: Path,
                   detector: SignalDetector) -> tuple[tuple[Model, dict], str]:
    """The thresholds are always the current settings files' (never the cache's); the fitted
    numbers come from a checked archive in a private folder (cache.py), else a fresh fit."""
    examples = examples_data.load_examples(content_dir)
    cache = ModelCache(cache_dir)
    model = cache.load(key, examples.settings)
    if model is not None:
        return (model, examples.settings), "disk"
    texts = training_texts(examples.rows, detector)
    labels = [intent for _, intent, _ in examples.rows]
    model, _ = Model.train(texts, labels, examples.settings["C"])
    cache.save(key, examples.settings, model)
    return (model, examples.settings), "trained"
