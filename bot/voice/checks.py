"""`flask content check` for the phone line: spoken text suits the ear, and "press N" matches flows/.

Registered in helpline.extras["content_checks"]; every error names the file, key and what to do.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.conversation.content import Content, ContentError
from bot.conversation.engine import CRISIS, EMERGENCY
from bot.conversation.flows import Flow, reachable
from bot.places.nearby import NODE as NEARBY
from bot.voice.phone_tree import DIAL_NODES, RESERVED_KEYS
from bot.voice.words import WORDS_KEY, Words, load_words

MAX_CHARS = 900  # about a minute of speech: longer screens lose people before the options
_URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:gov|org|com|net|us|info)\b", re.I)
# A long number read whole ("55811" as fifty-five thousand...), except a year ("checked in
# March 2026"), which a voice says as a year.
_NUMBER = re.compile(r"(?!(?:19|20)\d\d(?!\d))\d{4,}|\d{3}[-.]\d")


def voice_nodes(flow: Flow, topic_targets: set[str]) -> set[str]:
    """Screens a caller can reach: the menus, emergency, crisis, places and spoken topics."""
    return reachable(flow, [flow.start, EMERGENCY, CRISIS, NEARBY, *topic_targets])


def example(content: Content, locale: str, key: str) -> dict:
    """The entry's `example:` parameters, read from its file as bot/conversation/checks.py does."""
    entry = content.entries[locale][key]
    raw = yaml.safe_load(Path(content.dir, entry.file).read_text(encoding="utf-8")) or {}
    return dict((raw.get(key) or {}).get("example") or {})


def ear_problems(text: str, words: Words) -> list[str]:
    """What in a spoken text would confuse a caller: texting words, links, numbers read whole."""
    found = [f"says {w!r}, which suits a text, not a call (write a voice: variant)"
             for w in words.avoid if re.search(rf"\b{re.escape(w)}\b", text, re.I)]
    if _URL.search(text):
        found.append("has a link; a caller cannot click it (say who to call instead)")
    if _NUMBER.search(text):
        found.append("reads a long number whole; use the | digits filter for phones and ZIPs")
    if len(text) > MAX_CHARS:
        found.append(f"is {len(text)} characters; keep a spoken screen under {MAX_CHARS}")
    return found


def _pressed(text: str, words: Words) -> set[str]:
    verbs = "|".join(re.escape(w) for w in words.press)
    return set(re.findall(rf"\b(?:{verbs})\s+(\d)\b", text, re.I)) if verbs else set()


def check_voice(helpline) -> list[str]:
    """Errors in the voice renderings of every screen a caller can reach, in every language."""
    content, flow, lexicons = helpline.content, helpline.flow, helpline.engine.lexicons
    try:
        words = load_words(content)
    except ContentError as exc:
        return [str(exc)]
    errors = [f"{node.file}: node {node.id!r}: option {o.key!r} is a phone key for every screen "
              f"({', '.join(RESERVED_KEYS)}); use another number"
              for node in flow.nodes.values() for o in node.options if o.key in RESERVED_KEYS]
    targets = {node for lex in lexicons.by_locale.values() for node, _ in lex.topics}
    nodes = {flow.nodes[n].say: flow.nodes[n] for n in voice_nodes(flow, targets)}
    for locale, entries in content.entries.items():
        own = words.get(locale) or words[content.default]
        spoken = {k for k, e in entries.items() if e.voice and k != WORDS_KEY} | set(nodes)
        for key in sorted(spoken & set(entries)):
            errors += _check_entry(content, locale, key, own, nodes.get(key),
                                   press=locale in words and bool(own.press))
    return errors


def _check_entry(content: Content, locale: str, key: str, words: Words, node, press: bool):
    where = f"{content.entries[locale][key].file}: {key} (voice)"
    try:
        text = content.render(key, locale, "voice", example(content, locale, key))
    except Exception:  # the main content check reports template errors with their line
        return []
    errors = [f"{where}: {problem}" for problem in ear_problems(text, words)]
    if node is None or not press:
        return errors
    prompt = f"voice.prompt.{node.id}"
    if prompt in content.keys():
        text += "\n" + content.render(prompt, locale, "voice")
    said = _pressed(text, words) - set(RESERVED_KEYS) - {"0"}  # keys that work on every screen
    expected = set() if node.id in DIAL_NODES else {o.key for o in node.options}
    if said != expected:
        errors.append(f"{where}: says press {sorted(said)} but node {node.id!r} in "
                      f"flows/{node.file} has options {sorted(expected)}")
    return errors
