"""Commands and topic words, per language, matched with typo tolerance.

Words live in content/<locale>/keywords.yaml so that a new language is a folder, not code.
Emergency and crisis detection is separate (bot/understanding/signals.py) because it must run first.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

# Built-in commands, checked in this order; a keywords file may add more (e.g. checkin, pause),
# which the engine hands to a "command:<name>" handler.
COMMANDS = ("stop", "start", "help", "menu", "back", "more", "yes", "no", "language")
FUZZY_MIN_LENGTH = 5
FUZZY_CUTOFF = 84
_NON_WORD = re.compile(r"[^a-z0-9ñ]+")
_REPEATS = re.compile(r"([a-z])\1{2,}")
# Twilio's reserved keywords (docs/design.md) are the platform's, not a language's: a Spanish speaker
# who texts STOP or HELP keeps getting Spanish, so these words never count as language evidence.
CARRIER_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke",
                           "optout", "start", "unstop", "yes", "help", "info"})
# Sections of keywords.yaml whose words tell languages apart (bot/understanding/signals.py reads the last two).
_WORD_SECTIONS = ("commands", "topics", "hints")
_SIGNAL_SECTIONS = ("emergency", "crisis")


def fold(text: str) -> str:
    """Lower-case, strip accents and punctuation: 'ESPAÑOL!' -> 'espanol', "Where's" -> 'wheres'."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    if not text.isascii():  # accents to strip; plain ASCII (most texts) has none
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", text).strip()


@dataclass(frozen=True)
class Pattern:
    """A topic pattern: every group must appear; a group is a set of alternative phrases."""

    groups: tuple[tuple[str, ...], ...]

    @property
    def weight(self) -> int:
        return sum(max(len(alt.split()) for alt in group) for group in self.groups)

    def matches(self, padded: str) -> bool:
        return all(any(f" {alt} " in padded for alt in group) for group in self.groups)


def _pattern(raw) -> Pattern:
    parts = raw if isinstance(raw, list) else [raw]
    return Pattern(tuple(tuple(fold(alt) for alt in str(part).split("|")) for part in parts))


@dataclass(frozen=True)
class Lexicon:
    """One language's commands (whole-message words) and topics (words anywhere)."""

    locale: str
    commands: dict[str, frozenset[str]]
    topics: tuple[tuple[str, Pattern], ...]
    name: str = ""
    vocabulary: tuple[str, ...] = ()
    words: frozenset[str] = frozenset()

    @classmethod
    def from_file(cls, locale: str, path: Path) -> "Lexicon":
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        raw = data.get("commands") or {}
        names = list(COMMANDS) + [str(n) for n in raw if str(n) not in COMMANDS]
        commands = {name: frozenset(fold(str(w)) for w in raw.get(name) or []) for name in names}
        topics = tuple((node, _pattern(raw))
                       for node, patterns in (data.get("topics") or {}).items()
                       for raw in patterns)
        vocab = sorted({word for _, p in topics for g in p.groups for alt in g
                        for word in alt.split() if len(word) >= FUZZY_MIN_LENGTH})
        return cls(locale, commands, topics, str(data.get("name", locale)), tuple(vocab),
                   _language_words(data))

    def command(self, folded: str) -> str | None:
        for name, words in self.commands.items():
            if folded in words:
                return name
        return None

    def correct(self, folded: str) -> str:
        """Replace misspelt long words by the nearest topic word ('nalaxone' -> 'naloxone')."""
        return " ".join(self._correct_word(word) for word in folded.split())

    def _correct_word(self, word: str) -> str:
        if len(word) < FUZZY_MIN_LENGTH or word in self._vocabulary_set or not self.vocabulary:
            return word
        memo = self._memo
        found = memo.get(word)
        if found is None:
            best = process.extractOne(word, self.vocabulary, scorer=fuzz.ratio,
                                      score_cutoff=FUZZY_CUTOFF)
            found = best[0] if best and best[0][0] == word[0] else word
            if len(memo) >= 50_000:
                memo.clear()
            memo[word] = found
        return found

    def topic(self, folded: str) -> tuple[str, int] | None:
        """The node whose pattern matches the most words; ties go to the first in the file.

        Only the patterns one of whose phrases is in the message are checked (an index from
        phrase to patterns): a message names a few topic words, not all 300."""
        corrected = self.correct(folded)
        padded = f" {corrected} "
        words = set(corrected.split())
        present = {alt for alt in words if alt in self._by_word}
        present.update(alt for alt in self._phrases if alt in padded)
        if not present:
            return None
        candidates = sorted({i for alt in present for i in self._by_alt[alt]})
        best: tuple[str, int] | None = None
        for i in candidates:
            node, pattern = self.topics[i]
            if all(not present.isdisjoint(group) for group in pattern.groups) and \
                    (best is None or pattern.weight > best[1]):
                best = (node, pattern.weight)
        return best

    def __post_init__(self):
        by_alt: dict[str, list[int]] = {}
        for i, (_, pattern) in enumerate(self.topics):
            for group in pattern.groups:
                for alt in group:
                    by_alt.setdefault(alt, []).append(i)
        object.__setattr__(self, "_by_alt", by_alt)
        object.__setattr__(self, "_by_word", frozenset(a for a in by_alt if " " not in a))
        # phrases of several words are looked for with their spaces, as Pattern.matches does
        object.__setattr__(self, "_phrases", tuple(a for a in by_alt if " " in a))
        object.__setattr__(self, "_vocabulary_set", frozenset(self.vocabulary))
        object.__setattr__(self, "_memo", {})


def _language_words(data: dict) -> frozenset[str]:
    """The words a keywords file names that can tell its language apart from others.

    Words of one or two letters ("la", "le", "mi") and the inner words of signal phrases
    ("se echó") are left out: they are where languages and place names overlap (La Crescent,
    Le Sueur and Echo are Minnesota towns, not Spanish).
    """
    found: set[str] = set()

    def walk(node, phrases: bool) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value, phrases)
        elif isinstance(node, list):
            for value in node:
                walk(value, phrases)
        elif isinstance(node, str):
            words = fold(node.replace("|", " ").rstrip("*")).split()
            if phrases or len(words) == 1:
                found.update(words)

    for section in _WORD_SECTIONS:
        walk(data.get(section), True)
    for section in _SIGNAL_SECTIONS:
        part = data.get(section) or {}
        for key in ("words", "vocabulary", "known_words"):
            walk(part.get(key), False)
    return frozenset(w for w in found if len(w) > 2 and not w.isdigit()) - CARRIER_WORDS


class Lexicons:
    """Every language found under content/, so commands work whatever language is set."""

    def __init__(self, by_locale: dict[str, Lexicon], default: str = "en"):
        if default not in by_locale:
            raise ValueError(f"no keywords.yaml for the default locale {default!r}")
        self.by_locale = by_locale
        self.default = default
        # Words that only one language names are evidence for it; shared ones ("no") are not.
        self.distinct = {loc: lex.words.difference(*(other.words for o, other in by_locale.items()
                                                     if o != loc))
                         for loc, lex in by_locale.items()}

    @classmethod
    def from_dir(cls, content_dir: Path, default: str = "en") -> "Lexicons":
        found = {p.parent.name: Lexicon.from_file(p.parent.name, p)
                 for p in sorted(Path(content_dir).glob("*/keywords.yaml"))}
        return cls(found, default)

    @property
    def locales(self) -> list[str]:
        return list(self.by_locale)

    def get(self, locale: str) -> Lexicon:
        return self.by_locale.get(locale) or self.by_locale[self.default]

    def command(self, folded: str, locale: str) -> tuple[str, str] | None:
        """(command, locale that defines it): the person's language first, then any other."""
        return self._command_cached(folded, locale)

    @functools.lru_cache(maxsize=8192)
    def _command_cached(self, folded: str, locale: str) -> tuple[str, str] | None:
        """A step asks this up to three times (language, commands, the last-resort OK)."""
        order = [locale] + [loc for loc in self.by_locale if loc != locale]
        for loc in order:
            name = self.get(loc).command(folded)
            if name:
                return name, loc
        return None

    def topic(self, folded: str, locale: str) -> tuple[str, str] | None:
        """(node, locale): the best topic match in the person's language, else in any other."""
        return self._topic_cached(folded, locale)

    @functools.lru_cache(maxsize=8192)
    def _topic_cached(self, folded: str, locale: str) -> tuple[str, str] | None:
        """People send the same few words again and again; fuzzy matching runs once per text."""
        best = None
        for loc in [locale] + [x for x in self.by_locale if x != locale]:
            hit = self.get(loc).topic(folded)
            if hit and (best is None or hit[1] > best[1]):
                best = (hit[0], hit[1], loc)
        return (best[0], best[2]) if best else None

    @functools.lru_cache(maxsize=8192)
    def guess(self, folded: str, current: str) -> str | None:
        """Another language the message is clearly written in, else None (stay in `current`).

        Clearly means: more of its words belong only to that language than to any other one,
        so "necesito narcan" reads as Spanish, while "narcan", "911" or "STOP" decide nothing.
        """
        words = [_REPEATS.sub(r"\1", w) for w in folded.split()]  # "respiraaa" -> "respira"
        scores = {loc: sum(w in distinct for w in words) for loc, distinct in self.distinct.items()}
        best = max(scores, key=scores.get)
        if best == current or scores[best] == 0:
            return None
        if any(score >= scores[best] for loc, score in scores.items() if loc != best):
            return None
        return best

    def language_for(self, folded: str) -> str | None:
        """Which locale a 'language' command names ('espanol' -> 'es')."""
        for loc, lexicon in self.by_locale.items():
            if folded in lexicon.commands.get("language", ()):
                return loc
        return None
