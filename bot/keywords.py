"""Commands and topic words, per language, matched with typo tolerance.

Words live in content/<locale>/keywords.yaml so that a new language is a folder, not code.
Emergency and crisis detection is separate (bot/intents.py) because it must run first.
"""
from __future__ import annotations

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


def fold(text: str) -> str:
    """Lower-case, strip accents and punctuation: 'ESPAÑOL!' -> 'espanol', "Where's" -> 'wheres'."""
    text = text.lower().replace("'", "").replace("\u2019", "")
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
        return cls(locale, commands, topics, str(data.get("name", locale)), tuple(vocab))

    def command(self, folded: str) -> str | None:
        for name, words in self.commands.items():
            if folded in words:
                return name
        return None

    def correct(self, folded: str) -> str:
        """Replace misspelt long words by the nearest topic word ('nalaxone' -> 'naloxone')."""
        words = []
        for word in folded.split():
            if len(word) >= FUZZY_MIN_LENGTH and word not in self.vocabulary and self.vocabulary:
                best = process.extractOne(word, self.vocabulary, scorer=fuzz.ratio,
                                          score_cutoff=FUZZY_CUTOFF)
                if best and best[0][0] == word[0]:
                    word = best[0]
            words.append(word)
        return " ".join(words)

    def topic(self, folded: str) -> tuple[str, int] | None:
        """The node whose pattern matches the most words; ties go to the first in the file."""
        padded = f" {self.correct(folded)} "
        best: tuple[str, int] | None = None
        for node, pattern in self.topics:
            if pattern.matches(padded) and (best is None or pattern.weight > best[1]):
                best = (node, pattern.weight)
        return best


class Lexicons:
    """Every language found under content/, so commands work whatever language is set."""

    def __init__(self, by_locale: dict[str, Lexicon], default: str = "en"):
        if default not in by_locale:
            raise ValueError(f"no keywords.yaml for the default locale {default!r}")
        self.by_locale = by_locale
        self.default = default

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
        order = [locale] + [loc for loc in self.by_locale if loc != locale]
        for loc in order:
            name = self.get(loc).command(folded)
            if name:
                return name, loc
        return None

    def topic(self, folded: str, locale: str) -> tuple[str, str] | None:
        """(node, locale): the best topic match in the person's language, else in any other."""
        best = None
        for loc in [locale] + [x for x in self.by_locale if x != locale]:
            hit = self.get(loc).topic(folded)
            if hit and (best is None or hit[1] > best[1]):
                best = (hit[0], hit[1], loc)
        return (best[0], best[2]) if best else None

    def language_for(self, folded: str) -> str | None:
        """Which locale a 'language' command names ('espanol' -> 'es')."""
        for loc, lexicon in self.by_locale.items():
            if folded in lexicon.commands.get("language", ()):
                return loc
        return None
