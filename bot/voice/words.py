"""Words the phone line hears and checks, per language: the `voice.words` entry in content/<locale>/.

Kept in content, not code, so that a new language is a new folder: the words for keys ("two",
"repeat", "help"), speech hints, and the words the content check looks for in spoken text.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml

from bot.conversation.content import Content, ContentError
from bot.understanding.keywords import fold

WORDS_KEY = "voice.words"
KEYS = set("0123456789*")


@dataclass(frozen=True)
class Words:
    keys: Mapping[str, str]   # folded short answer -> the key it stands for ("two" -> "2")
    hints: tuple[str, ...]    # speech hints on every screen (emergency words, "repeat")
    press: tuple[str, ...]    # the verb before a key ("press", "oprima"), for the content check
    avoid: tuple[str, ...]    # texting words that do not suit the ear ("reply", "text back")
    updates: tuple[str, ...] = ()  # speech hints during an emergency ("breathing now", "no narcan")


def _words(raw: Mapping, where: str) -> Words:
    keys: dict[str, str] = {}
    for key, phrases in (raw.get("keys") or {}).items():
        if str(key) not in KEYS or not isinstance(phrases, list):
            raise ContentError(f"{where}: keys: {key!r} must be 0-9 or *, with a list of words")
        keys.update({fold(str(p)): str(key) for p in phrases})
    lists = {}
    for name in ("hints", "press", "avoid", "updates"):
        value = raw.get(name) or []
        if not isinstance(value, list):
            raise ContentError(f"{where}: {name} must be a list of words")
        lists[name] = tuple(str(v) for v in value)
    return Words(keys, lists["hints"], lists["press"], lists["avoid"], lists["updates"])


def load_words(content: Content) -> dict[str, Words]:
    """Each language's words; key words of every language work in all (people switch)."""
    found: dict[str, Words] = {}
    for locale, entries in content.entries.items():
        entry = entries.get(WORDS_KEY)
        if entry is None:
            continue
        data = yaml.safe_load(Path(content.dir, entry.file).read_text(encoding="utf-8")) or {}
        found[locale] = _words(data.get(WORDS_KEY) or {}, f"{entry.file}: {WORDS_KEY}")
    if content.default not in found:
        raise ContentError(f"{content.default}/: the phone line needs a {WORDS_KEY!r} entry "
                           "(see content/en/voice.yaml)")
    merged = {}
    for locale, words in found.items():
        keys: dict[str, str] = {}
        for other, theirs in found.items():
            if other != locale:
                keys.update(theirs.keys)
        merged[locale] = Words({**keys, **words.keys}, words.hints, words.press, words.avoid,
                               words.updates)
    return merged
