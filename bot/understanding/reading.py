"""How a message's text is laid out before it is read: words run together, long stories, and
the clause that says how things are now. Pure string work, no language data of its own (the
words come from the model's vocabulary and content/<locale>/keywords.yaml).

- "hesnotbreathing", "whereisnarcan": split into the likeliest known words (split_runs), so
  text without spaces is read like any other, never as "too short".
- A long story is read by its start and its end (clip): an emergency told at the end of 900
  characters is still read, and the cost per message stays bounded.
- "he was breathing but now he stopped": the current state is the last clause (current_clause).
"""
from __future__ import annotations

import math
import re

RUN_MIN = 7               # tokens shorter than this are words, typos or slang, never runs
RUN_MAX = 60              # longer tokens are not words people ran together
PIECE_MAX = 14            # the longest single word looked for inside a run
PIECE_COST = 2.0          # each cut costs this too: fewer, longer words win ("meth od one" loses)
SINGLE = frozenset("iayoue")  # the only one-letter words a run may hold ("whatdoidoif...")
TYPO_RATIO = 85           # a run this close to one known word is that word misspelt, not a run
CLIP_CHARS = 480          # three SMS segments: longer texts are read by their start and end


def split_runs(norm: str, costs: dict[str, float], memo: dict | None = None) -> str:
    """Each long unknown token split into known words when every letter is explained by them
    ("hesnotbreathingplshelp" -> "hes not breathing pls help"); `costs` maps a known word to
    its cost (rarer words cost more: idf), so common readings win. A token that is one known
    word misspelt ("methodone") or that only splits into scraps ("q we r ty") stays.
    `memo` keeps each token's answer (people reuse the same words)."""
    if not costs or len(norm) < RUN_MIN:
        return norm
    words = norm.split()
    out, changed = [], False
    for word in words:
        if RUN_MIN <= len(word) <= RUN_MAX and word not in costs and word.isalpha():
            if memo is not None and word in memo:
                pieces = memo[word]
            else:
                pieces = _best_split(word, costs)
                if pieces and _misspelt(word, costs):
                    pieces = None
                if memo is not None:
                    if len(memo) > 50_000:
                        memo.clear()
                    memo[word] = pieces
            if pieces:
                out.extend(pieces)
                changed = True
                continue
        out.append(word)
    return " ".join(out) if changed else norm


def _best_split(word: str, costs: dict[str, float]) -> list[str] | None:
    """Dynamic programming over the cut points: the cheapest cover by known words (O(n * 14))."""
    n = len(word)
    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(max(0, end - PIECE_MAX), end):
            if best[start] == math.inf:
                continue
            piece = word[start:end]
            cost = costs.get(piece) if len(piece) > 1 or piece in SINGLE else None
            if cost is not None and best[start] + cost + PIECE_COST < best[end]:
                best[end], back[end] = best[start] + cost + PIECE_COST, start
    if best[n] == math.inf:
        return None
    pieces, end = [], n
    while end:
        pieces.append(word[back[end]:end])
        end = back[end]
    pieces.reverse()
    letters = sum(len(p) == 1 for p in pieces)
    ok = len(pieces) > 1 and letters * 3 <= len(pieces) and len(word) / len(pieces) >= 2.5
    return pieces if ok else None


def _misspelt(word: str, costs: dict[str, float]) -> bool:
    """Whether one known word of about the same length is a slip away (rapidfuzz, in C)."""
    from rapidfuzz import fuzz, process

    near = [w for w in costs if abs(len(w) - len(word)) <= 2 and w[:1] == word[:1]]
    return process.extractOne(word, near, scorer=fuzz.ratio, score_cutoff=TYPO_RATIO) is not None


def clip(norm: str, limit: int = CLIP_CHARS) -> str:
    """The first and last limit/2 characters, cut at spaces: a story's start and its end."""
    if len(norm) <= limit:
        return norm
    half = limit // 2
    head = norm[:half].rsplit(" ", 1)[0]
    tail = norm[-half:].split(" ", 1)[-1]
    return f"{head} {tail}"


def current_clause(norm: str, transition: re.Pattern | None) -> str:
    """The last non-empty clause after a transition word ("but", "now", "pero"): how things are
    now. "he was breathing but now he stopped" -> "he stopped"; "hes breathing now" -> itself."""
    if transition is None:
        return norm
    clauses = [c.strip() for c in transition.split(norm)]
    return next((c for c in reversed(clauses) if c), norm)
