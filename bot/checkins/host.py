"""Check-ins plugged into the host: Context facts, writes inside each step's transaction,
after-commit counts, Twilio status callbacks, `flask chat` and `flask content check`.

The engine hooks (bot/checkins/flow.py) only emit events; this is where they meet Redis. STOP
and the other choices are written in the same MULTI as the conversation step, so a STOP that
was answered has already cancelled every future check-in.
"""
from __future__ import annotations

import logging
import random
from datetime import datetime, timezone
from typing import Callable

import click

from bot.conversation.checks import MAX_SMS_SEGMENTS
from bot.checkins.rules import TIP_EVERY, Plan, Rules, Slot, rotation
from bot.conversation.content import segments
from bot.storage.facts import Facts
from bot.conversation.engine import Context, Event, Outcome
from bot.checkins.subscriptions import Subscriptions

log = logging.getLogger(__name__)
COUNTED = ("checkin_subscribe", "checkin_pause", "checkin_resume", "checkin_off",
           "checkin_answer", "opt_out")


class CheckinHost:
    """The host side of check-ins for one helpline (one Redis, one set of rules)."""

    def __init__(self, subs: Subscriptions, rules: Rules, rnd: Callable[[], float] = random.random):
        self.subs, self.rules, self.rnd = subs, rules, rnd
        self._writes = {"checkin_subscribe": self._subscribe, "checkin_pause": self._pause,
                        "checkin_resume": self._resume, "checkin_off": self._off,
                        "opt_out": self._opt_out, "language": self._language}

    # --- inside the step's transaction ---------------------------------------------------------
    def write(self, pipe, subject: str, number: str, outcome: Outcome, ctx: Context) -> None:
        """Any message answers (or moves past) the last check-in; events change the plan."""
        self.subs.close_open(pipe, subject)
        for event in outcome.events:
            handler = self._writes.get(event.name)
            if handler is not None:
                handler(pipe, subject, number, event, ctx)

    def _due(self, slot_key: str) -> float:
        return self.rules.due(Slot.parse(slot_key), self.rnd()).timestamp()

    def _subscribe(self, pipe, subject, number, event: Event, ctx) -> None:
        data = event.data
        plan = Plan(data["freq"], data["window"])
        self.subs.subscribe(pipe, subject, number, plan, data["locale"], data["slot"],
                            self._due(data["slot"]), ctx.epoch)

    def _pause(self, pipe, subject, number, event: Event, ctx) -> None:
        if ctx.subscribed:
            self.subs.pause(pipe, subject, event.data["until"], event.data["slot"],
                            self._due(event.data["slot"]))

    def _resume(self, pipe, subject, number, event: Event, ctx) -> None:
        if ctx.subscribed:
            self.subs.resume(pipe, subject, event.data["slot"], self._due(event.data["slot"]))

    def _off(self, pipe, subject, number, event: Event, ctx) -> None:
        if ctx.subscribed:
            self.subs.stop(pipe, subject, "off")

    def _opt_out(self, pipe, subject, number, event: Event, ctx) -> None:
        if ctx.subscribed:
            self.subs.stop(pipe, subject, "stop")

    def _language(self, pipe, subject, number, event: Event, ctx) -> None:
        if ctx.subscribed and event.data.get("locale"):
            self.subs.set_locale(pipe, subject, event.data["locale"])

    # --- after the commit ----------------------------------------------------------------------
    def after(self, subject: str, event: Event, outcome: Outcome, now: datetime) -> None:
        """Anonymous daily counts (sign-ups, pauses, answers...), never who."""
        name = event.name
        if name == "checkin_answer":
            name = f"answer_{event.data.get('answer', '')}"
        self.subs.count(name, now)

    def on_status(self, sid: str, status: str, error_code: str | None) -> None:
        """Twilio's delivery report for a check-in: failures in a row put it on hold."""
        try:
            code = int(error_code) if error_code else None
        except ValueError:
            code = None
        result = self.subs.delivery_report(sid, status, code)
        if result is not None:
            self.subs.count(f"delivery_{result}", datetime.now(timezone.utc))
        if result in ("held", "deactivated"):
            log.warning("check-in subscription %s after delivery error %s", result, code)

    def chat_hook(self, helpline, number: str) -> None:
        """`flask chat`: show check-ins the worker texted to this number (console sender)."""
        for body in self.subs.outbox_pop(helpline.vault.subject(number)):
            click.echo("bot (check-in)> " + body.replace("\n", "\n     ") + "\n")


def compose(content, subject: str, count: int, kind: str, locale: str) -> str:
    """The text of one check-in: the person's next note in turn, every third time with a tip."""
    notes, tips = note_keys(content, locale)
    note, tip = rotation(subject, count, len(notes), len(tips))
    keys = (["checkin.back"] if kind == "resumed" else []) + [notes[note]]
    keys += [tips[tip]] if tip is not None else []
    return "\n\n".join(content.render(key, locale) for key in keys)


def note_keys(content, locale: str) -> tuple[list[str], list[str]]:
    """The rotation: checkin.note.* and checkin.tip.* keys in order (else the default language's)."""
    keys = sorted(content.keys(locale))
    if not any(k.startswith("checkin.note.") for k in keys):
        keys = sorted(content.keys())
    return ([k for k in keys if k.startswith("checkin.note.")],
            [k for k in keys if k.startswith("checkin.tip.")])


def rotation_problems(helpline) -> list[str]:
    """`flask content check`: every check-in as sent (a note, maybe a tip, maybe 'back on')."""
    errors = set()
    for locale in helpline.content.locales:
        notes, tips = note_keys(helpline.content, locale)
        for count in range(len(notes) * max(len(tips), 1) * TIP_EVERY):
            for kind in ("checkin", "resumed"):
                seg = segments(compose(helpline.content, "subject", count, kind, locale))
                if seg.count > MAX_SMS_SEGMENTS:
                    errors.add(f"{locale}/checkin.yaml: a check-in ({kind}, #{count}) is "
                               f"{seg.count} segments ({seg.encoding}); shorten its note or tip")
    return sorted(errors)


def install(helpline) -> CheckinHost:
    """Wire check-ins into a built helpline (bot/helpline.py calls this once per process)."""
    conversations = helpline.conversations
    host = CheckinHost(Subscriptions(helpline.redis, helpline.vault),
                       Rules.from_settings(helpline.settings))
    conversations.context_facts.append(Facts(host.subs.context_reads, host.subs.context_from))
    conversations.tx_writes.append(host.write)
    for name in COUNTED:
        conversations.event_handlers[name] = _both(conversations.event_handlers.get(name),
                                                   host.after)
    helpline.status_handlers.append(host.on_status)
    helpline.extras.setdefault("chat_hooks", []).append(host.chat_hook)
    helpline.extras.setdefault("content_checks", []).append(rotation_problems)
    helpline.extras["checkins"] = host
    helpline.extras["subscriber_count"] = host.subs.live_count
    return host


def _both(first: Callable | None, second: Callable) -> Callable:
    """Keep another module's after-commit handler for the same event and run ours too."""
    if first is None:
        return second

    def both(*args):
        first(*args)
        second(*args)
    return both
