"""The inbox plugged into a built helpline: the facts each text reads (the open ticket, the
measured reply time), the writes in the step's transaction (open, append, close), what happens
after the commit (live updates, the silent timer), delivery reports, FORGET, and the content's
`inbox_on` (the talk menu offers the team only when there are staffed hours).
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import yaml
from prometheus_client.core import GaugeMetricFamily

from bot.channels.callers import textable
from bot.storage.facts import Facts
from bot.conversation.engine import Event, Outcome
from bot.inbox import figures, timers
from bot.inbox.actions import Desk
from bot.inbox.events import Events
from bot.inbox.flow import CLOSE, MESSAGE, OPEN, InboxFlow, Words
from bot.config import ConfigError
from bot.inbox.hours import Hours, HoursError, parse_hours
from bot.inbox.tickets import CLAIMED, Tickets
from bot.storage.keys import INBOX_TYPICAL_KEY, inbox_open_key

log = logging.getLogger(__name__)


def load_words(content_dir: Path) -> Words:
    """The `inbox:` section of each language's keywords.yaml (ask, end)."""
    sections = {}
    for path in sorted(Path(content_dir).glob("*/keywords.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        sections[path.parent.name] = data.get("inbox") or {}
    return Words.from_sections(sections)


def hours_of(settings) -> Hours:
    """The staffed hours; a schedule nobody could read stops the start (ConfigError, the reason).
    A helpline that sends no texts (OUTBOUND_TEXTS=off) has no staffed hours: staff replies are
    texts, so offering a person would be a promise nobody could keep."""
    try:
        hours = parse_hours(settings.inbox_hours, settings.inbox_holidays, settings.tz)
    except HoursError as exc:
        raise ConfigError(str(exc)) from None
    if hours.on and not settings.sends_texts:
        log.warning("INBOX_HOURS is set but OUTBOUND_TEXTS is off: the inbox is off (replies are texts)")
        return parse_hours("", "", settings.tz)
    return hours


def flow_for(settings) -> InboxFlow:
    """The engine hooks and the gate, built before the engine (bot/helpline.py)."""
    return InboxFlow(hours_of(settings), load_words(settings.content_dir),
                     settings.inbox_leave_message, settings.inbox_retention_days)


class InboxHost:
    def __init__(self, helpline, flow: InboxFlow):
        settings = helpline.settings
        self.helpline, self.flow, self.hours = helpline, flow, flow.hours
        self.events = Events(helpline.redis)
        self.tickets = Tickets(helpline.redis, helpline.vault, self.events, settings.tz,
                               settings.inbox_retention_days, settings.inbox_unclaimed_minutes,
                               settings.inbox_idle_hours)
        self.silent = settings.inbox_silent_minutes * 60
        self.redis = helpline.redis
        # The console sets `desk.record` to its audit log; the worker's timers leave no entry.
        self.desk = Desk(self.tickets, helpline.content, lambda who, what, detail="": None,
                         settings.inbox_silent_minutes)

    # --- read with every text ----------------------------------------------------------------
    @staticmethod
    def reads(subject: str):
        return ("GET", inbox_open_key(subject)), ("GET", INBOX_TYPICAL_KEY)

    @staticmethod
    def parse(subject: str, results: list) -> dict:
        pointer, typical = results
        number, _, locale = pointer.decode().partition("|") if pointer else ("", "", "")
        return {"inbox": {"open": int(number) if number.isdigit() else None,
                          "locale": locale or None,
                          "typical": int(typical) if typical else None}}

    # --- in the step's transaction -------------------------------------------------------------
    def write(self, pipe, subject: str, number: str, outcome: Outcome, ctx) -> None:
        for event in outcome.events:
            if event.name == OPEN and textable(number) and not (ctx.inbox or {}).get("open"):
                self.tickets.open(pipe, subject, number, event.data)
            elif event.name == MESSAGE:
                self.tickets.append(pipe, subject, event.data)
            elif event.name == CLOSE:
                self.tickets.close_in_step(pipe, subject, event.data)

    # --- after the commit ----------------------------------------------------------------------
    def after(self, subject: str, event: Event, outcome: Outcome, now) -> None:
        try:
            if event.name == OPEN:
                pointer = self.helpline.redis.get(inbox_open_key(subject))
                if pointer:
                    self.events.notify("opened", pointer.decode().partition("|")[0])
            elif event.name == MESSAGE:
                self._message(subject, event.data)
            elif event.name == CLOSE:
                self.tickets.counted(int(event.data["ticket"]))
                self.events.notify("closed", event.data["ticket"])
        except Exception as exc:  # the text was answered and stored; a live update may lag
            log.warning("inbox: after a text: %s", type(exc).__name__)

    def _message(self, subject: str, data: dict) -> None:
        n, at = int(data["ticket"]), float(data["at"])
        ticket = self.tickets.get(n)
        if ticket is None:  # its record is gone: never leave the person talking to no one
            log.warning("inbox: a text went to ticket #%s, which is gone; the bot answers again", n)
            self.redis.delete(inbox_open_key(subject))
            return
        if ticket.status == CLAIMED and ticket.owed == at:
            timers.book_now(self.helpline.redis, "silent", n, at + self.silent, anchor=at)
        self.events.notify("urgent" if data.get("urgent") else "message", n)

    # --- figures -------------------------------------------------------------------------------
    def summary(self, now) -> dict:
        """The dashboard's card: today, 30 days and by hour, in the helpline's time zone."""
        return figures.summary(self.redis, now, self.hours.tz)

    def metric_families(self):
        """/metrics (read at scrape time, like the other Redis gauges): open tickets by state,
        and over the last week tickets opened and closed, wait and first-reply quantiles (only
        from 5 tickets up, the dashboard's rule)."""
        open_ = GaugeMetricFamily("helpline_inbox_open_tickets", "Open inbox tickets by state.",
                                  labels=["state"])
        states = Counter(t.status for t in self.tickets.all() if t.is_open)
        for state in ("waiting", "claimed"):
            open_.add_metric([state], states.get(state, 0))
        yield open_
        week = figures.summary(self.redis, datetime.now(timezone.utc), self.hours.tz, days=7)
        tickets = GaugeMetricFamily("helpline_inbox_tickets_7d", "Inbox tickets in the last 7 "
                                    "days: opened, handled (a reply), abandoned, urgent.",
                                    labels=["result"])
        for name, count in week["counts"].items():
            tickets.add_metric([name], count["month"])
        yield tickets
        for kind, name in (("wait", "wait"), ("first", "first_reply")):
            family = GaugeMetricFamily(f"helpline_inbox_{name}_seconds_7d",
                                       f"Inbox {name.replace('_', ' ')} time over the last 7 "
                                       "days (shown from 5 tickets up).", labels=["quantile"])
            spread = week["times"][kind]["month"]
            for label, field in (("0.5", "median"), ("0.9", "p90")):
                if spread[field] is not None:
                    family.add_metric([label], spread[field])
            yield family

    def on_status(self, sid: str, status: str, error_code: str | None) -> None:
        """Twilio's delivery report for a reply or notice: the thread shows it."""
        found = self.tickets.by_sid(sid)
        if found is not None and self.tickets.set_status(*found, status):
            self.events.notify("delivery", found[0])


def install(helpline, flow: InboxFlow) -> InboxHost:
    """Wire the inbox into a built helpline (bot/helpline.py calls this once per process)."""
    host = InboxHost(helpline, flow)
    conversations = helpline.conversations
    conversations.context_facts.append(Facts(host.reads, host.parse))
    conversations.tx_writes.append(host.write)
    conversations.gates.append(flow.gate)
    for name in (OPEN, MESSAGE, CLOSE):
        earlier = conversations.event_handlers.get(name)
        conversations.event_handlers[name] = host.after if earlier is None else _both(
            earlier, host.after)
    helpline.status_handlers.append(host.on_status)
    helpline.extras.setdefault("forgetters", []).append(host.tickets.forget)
    helpline.extras["inbox"] = host
    helpline.extras.setdefault("metric_families", []).append(host.metric_families)
    return host


def _both(first, second):
    def both(*args):
        first(*args)
        second(*args)
    return both
