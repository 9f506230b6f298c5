"""A Minnesota ZIP code or town named anywhere in a message: "narcan near duluth", "55811",
"i live in bemidji where is narcan", "vivo en minneapolis".

Why here and not in bot/places: the understanding layer reads a whole sentence once and the
engine decides what to do with the place (only when the intent is about places). The town names
come from the caller (the places package passes the locator's list), so this module needs no data.
It leans towards "no place": words that are also everyday English or Spanish words ("hope",
"cook", "rice", "young america") count only after "in/near/en/cerca de" or before "mn".
"""
from __future__ import annotations

import importlib.util
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

MN_ZIP = re.compile(r"(?<![0-9])(5[5-6][0-9]{3})(?:-[0-9]{4})?(?![0-9])", re.ASCII)
_NON_WORD = re.compile(r"[^a-z0-9]+", re.ASCII)
MAX_WORDS = 4             # "international falls", "st louis park", "new york mills"
FUZZY_MIN_LENGTH = 7      # typo tolerance only for longer names ("bemiji", "minneaplis")
ALIASES = {"saint": "st", "ste": "st", "mpls": "minneapolis", "ft": "fort", "stp": "st paul"}
# Words that make the next words a place: "in hope", "near cook", "en worthington".
PLACE_BEFORE = frozenset("in near around at from outside by en cerca de desde por live vivo "
                         "town city ciudad pueblo".split())
PLACE_AFTER = frozenset({"mn", "minn", "minnesota"})
# Common words that are also Minnesota towns, and words that must never start a fuzzy match.
STOP_WORDS = frozenset("""
    a i in is it on at of or to the and but so if my me we he she they you u him her
    help hope cook rice frost wells dent mound trail swift twig regal echo iron isle cotton cedar
    crystal badger harmony independence savage welcome max climax embarrass fertile outing
    reading marble tower young america ham lake center city park town lake oh ok okay hi hello
    hey no yes si la las los el lo en de del con por para que como donde cuando mas ayuda
    hola gracias brook park rapids falls prairie river grove heights mills springs beach
    ogema ray wolf fox bear eagle hills pine long star fountain lucan florence jasper viking
    canby darwin milan nelson norwood sebeka kent rush wheaton adrian motley hay garden jackson
    fulda lismore clements ashby""".split())


# Town names of several words that are also everyday phrases.
STOP_PHRASES = frozenset({"young america", "ham lake", "brook park", "wolf lake", "oak park",
                          "center city", "lake city", "long lake", "big lake"})


def fold_words(text: str) -> list[str]:
    """Lower-case ASCII words: 'St. Cloud, MN' -> ['st', 'cloud', 'mn']; accents dropped."""
    text = unicodedata.normalize("NFKD", text.lower().replace("'", "").replace("\u2019", ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", text).split()


def key_of(words: Iterable[str]) -> str:
    return " ".join(ALIASES.get(w, w) for w in words)


@lru_cache(maxsize=1)
def everyday_words() -> frozenset[str]:
    """The stop list plus textstat's easy English and Spanish words (a pinned requirement), read
    from its resource files: a word people use every day is never stretched into a town."""
    words = set(STOP_WORDS)
    spec = importlib.util.find_spec("textstat")
    for lang in ("en", "es") if spec and spec.origin else ():
        path = Path(spec.origin).parent / "resources" / lang / "easy_words.txt"
        if path.is_file():
            words.update(" ".join(fold_words(w)) for w in path.read_text(encoding="utf-8").split())
    return frozenset(words)


class PlaceFinder:
    """Finds the ZIP or town in a message. Built once from the town names the caller knows."""

    def __init__(self, towns: Iterable[str] = ()):
        self.towns: dict[str, str] = {}
        for name in towns:
            key = key_of(fold_words(str(name)))
            if key:
                self.towns.setdefault(key, str(name))
        self._everyday = everyday_words()
        self._first_words = frozenset(key.split()[0] for key in self.towns)
        self._fuzzy: dict[str, list[str]] = {}        # by first letter: a typo keeps it
        for key in self.towns:
            if len(key) >= FUZZY_MIN_LENGTH and " " not in key:
                self._fuzzy.setdefault(key[0], []).append(key)

    def find(self, text: str) -> str | None:
        """The last MN ZIP (ASCII digits only), else the best town, else None."""
        zips = MN_ZIP.findall(text)
        if zips:
            return zips[-1]
        if not self.towns:
            return None
        words = [ALIASES.get(w, w) for w in fold_words(text)]
        return self._town(words)

    def _town(self, words: list[str]) -> str | None:
        best: tuple[int, int, str] | None = None          # (length in words, position, name)
        for i in range(len(words)):
            if words[i] not in self._first_words:           # most words start no town name
                continue
            for n in range(min(MAX_WORDS, len(words) - i), 0, -1):
                key = " ".join(words[i:i + n])
                name = self.towns.get(key)
                if name is None or not self._plausible(words, i, n, key):
                    continue
                if best is None or n > best[0]:
                    best = (n, i, name)
                break
        if best:
            return best[2]
        for i, word in enumerate(words):                   # one typo in a long single-word name
            if len(word) < FUZZY_MIN_LENGTH or word in self._everyday:
                continue
            # only where a place is expected ("in bemidgi", "narcan minneaplis", "bemiji mn"):
            # a misspelt word elsewhere in a story is far more often not a town
            if not (i == len(words) - 1 or (i and words[i - 1] in PLACE_BEFORE)
                    or (i + 1 < len(words) and words[i + 1] in PLACE_AFTER)):
                continue
            hits = process.extract(word, self._fuzzy.get(word[0], ()), scorer=OSA.distance,
                                   score_cutoff=1 if len(word) < 10 else 2, limit=2)
            if hits and (len(hits) == 1 or hits[0][1] < hits[1][1]):
                return self.towns[hits[0][0]]
        return None

    def _plausible(self, words: list[str], i: int, n: int, key: str) -> bool:
        """An everyday word is a town only when the text says it is a place ("in hope", "hope mn").
        Names of two or more words ("st cloud", "grand rapids") are places as they stand, except
        the few that are everyday phrases too ("young america", "ham lake")."""
        if key not in (STOP_PHRASES if n > 1 else self._everyday):
            return True
        before = words[i - 1] if i else ""
        after = words[i + n] if i + n < len(words) else ""
        return before in PLACE_BEFORE or after in PLACE_AFTER
