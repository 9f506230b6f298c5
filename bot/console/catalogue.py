"""Every message of every screen, in every language and channel, with what `content check` says.

Built from bot.conversation.checks.check_content (the same renderings, example values and
budgets as the command), once per process and again when the content files change on disk.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bot.conversation.checks import check_content
from bot.conversation.content import segments


@dataclass
class Message:
    key: str
    file: str
    sources: tuple[str, ...]
    screens: list[str]  # flow nodes that say it
    texts: dict = field(default_factory=dict)  # (locale, channel) -> rendering dict
    problems: list[str] = field(default_factory=list)


def build(helpline) -> tuple[list[Message], list[str]]:
    """(messages sorted by key, problems that name no key)."""
    content, flow = helpline.content, helpline.flow
    reports, errors = check_content(content, flow)
    for extra_check in helpline.extras.get("content_checks", []):
        try:
            errors = errors + list(extra_check(helpline))
        except Exception as exc:  # a failing extra check is a problem to show, not a 500
            errors.append(f"{getattr(extra_check, '__name__', 'check')}: {type(exc).__name__}")
    screens: dict[str, list[str]] = {}
    for node in flow.nodes.values():
        screens.setdefault(node.say, []).append(node.id)
    messages: dict[str, Message] = {}
    for key in sorted(content.keys()):
        entry = content.entry(key, content.default)
        messages[key] = Message(key, entry.file, entry.source, sorted(screens.get(key, [])))
    for r in reports:
        m = messages.get(r.key)
        if m is None:
            continue
        seg = segments(r.text)
        m.texts[(r.locale, r.channel)] = {
            "text": r.text, "segments": r.segments, "encoding": r.encoding, "units": seg.units,
            "grade": round(r.grade, 1), "source": content.entry(r.key, r.locale).file}
    loose = []
    for error in errors:
        owner = next((m for k, m in messages.items()
                      if f": {k}:" in error or f": {k} (" in error or f"{k!r}" in error), None)
        (owner.problems if owner else loose).append(error)
    return list(messages.values()), loose
