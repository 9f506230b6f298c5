"""Spelling the rules must see through: a word list as a trie regex, spelling by ear (Spanish
as it sounds: "lavios", "vaño", "ase"), and the slips that flip a negation ("nto", "istn").

Pure string work used by signals.py when it loads content/<locale>/keywords.yaml; the words
themselves are content (`emergency.negations`, the word lists), never code.
"""
from __future__ import annotations

import re


def trie(words: dict[str, bool]) -> str:
    """A regex matching exactly the given words (True: and any word characters after it)."""
    root: dict = {}
    for word, star in words.items():
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = node.get("", False) or star   # "" marks an end; its value: a star end

    def emit(node: dict) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if "" in node:
            if node[""]:
                return "(?:" + "|".join(branches + [r"\w*"]) + ")" if branches else r"\w*"
            if not branches:
                return ""
            return "(?:" + "|".join(branches) + ")?"
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return "(?:" + emit(root) + ")"


_SOUNDS = ((re.compile(r"([a-z])\1+"), r"\1"), (re.compile(r"v"), "b"), (re.compile(r"z"), "s"),
           (re.compile(r"c(?=[ei])"), "s"), (re.compile(r"qu(?=[ei])"), "k"), (re.compile(r"ll"), "y"),
           (re.compile(r"(?<![cs])h"), ""), (re.compile(r"ph"), "f"))


def sounds_like(word: str) -> str:
    """A spelling-by-ear key: doubled letters once, b/v, s/z/soft c, k/qu, y/ll, silent h
    ("lavios" and "labios", "rrespira" and "respira", "ijo" and "hijo", "ase" and "hace" share a
    key). Only words of 3+ letters are looked up by it, and only when they are not words already."""
    for rx, sub in _SOUNDS:
        word = rx.sub(sub, word)
    return word


def negation_typos(negations, known) -> dict[str, str]:
    """Misspellings of negation words that no real word shares: "nto", "istn", "dnot"...
    Short words are never fuzzy-corrected (too many real neighbours), so the slips that flip a
    meaning are listed: two neighbouring letters swapped, or (5+ letters) one inner letter
    dropped. A variant that is a known word stays a word."""
    out: dict[str, str] = {}
    for word in negations:
        if " " in word or len(word) < 3:
            continue
        variants = {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
        if len(word) >= 5:
            variants |= {word[:i] + word[i + 1:] for i in range(1, len(word) - 1)}
        for v in variants - {word} - set(known) - set(negations):
            out.setdefault(v, word)
    return out
