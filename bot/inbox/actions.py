"""What staff do with a ticket: claim, reply (typed or canned), note, transfer, snooze, close.

Each change is one Lua script on the ticket (scripts.py), so two staff members acting at once
never both win; then the audit log gets the staff member's name and the ticket number (never a
text or a number), timers are booked, the console is told (events.py), and texts to the person
are queued for the worker, which sends each exactly once (jobs.py). The console's views
(bot/console/inbox_views.py) translate HTTP to these calls and back.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from rq import Queue

from bot.checkins.dispatch import FAILURE_TTL, RESULT_TTL, SEND_QUEUE
from bot.conversation.content import segments
from bot.inbox import figures, scripts, timers
from bot.inbox.tickets import CLAIMED, Tickets
from bot.storage.keys import inbox_messages_key, inbox_ticket_key

MAX_SEGMENTS = 3
MAX_NOTE = 2000
SNOOZES = (30, 60, 120, 240)  # minutes a ticket can be snoozed for
Record = Callable[[str, str, str], None]  # audit: (staff, what, detail)


@dataclass(frozen=True)
class Done:
    """An action's result for the console: ok, or why not (and the HTTP status that says so)."""

    ok: bool
    message: str
    status: int = 200


GONE = Done(False, "This ticket is no longer kept: erased at the person's request, or past "
                   "its retention.", 404)
CLOSED_ALREADY = Done(False, "This ticket is closed.", 409)


class Desk:
    def __init__(self, tickets: Tickets, content, record: Record, silent_minutes: int = 15,
                 clock: Callable[[], float] = time.time):
        self.tickets, self.content, self.record, self.clock = tickets, content, record, clock
        self.redis = tickets.redis
        self.silent = silent_minutes * 60
        self.queue = Queue(SEND_QUEUE, connection=self.redis)
        self._claim = self.redis.register_script(scripts.CLAIM)
        self._reply = self.redis.register_script(scripts.REPLY)
        self._transfer = self.redis.register_script(scripts.TRANSFER)

    # --- claim -------------------------------------------------------------------------------
    def claim(self, staff: str, n: int) -> Done:
        now = self.clock()
        code, owner = _pair(self._claim(keys=[inbox_ticket_key(n)], args=[staff, now]))
        if code == -1:
            return GONE
        if code == -2:
            return CLOSED_ALREADY
        if code == 0:
            return Done(False, f"{owner} claimed ticket #{n} first." if owner != staff
                        else f"You have ticket #{n} already.", 409)
        self._claimed(staff, n, now, first=code == 2)
        return Done(True, f"Ticket #{n} is yours.")

    def _claimed(self, staff: str, n: int, now: float, first: bool) -> None:
        """After a claim: the thread says so, its wait is measured once, the silent timer runs."""
        self.tickets.push(n, {"at": now, "kind": "event", "what": f"claimed by {staff}"})
        ticket = self.tickets.get(n)
        if first and ticket is not None:
            pipe = self.redis.pipeline(transaction=False)
            figures.sample(pipe, "wait", ticket.opened, now - ticket.due, self.tickets.tz)
            pipe.execute()
        timers.book_now(self.redis, "silent", n, now + self.silent, anchor=now)
        self.record(staff, "inbox claim", f"ticket #{n}")
        self.tickets.events.notify("claimed", n)

    # --- reply -------------------------------------------------------------------------------
    def canned(self, locale: str) -> list[tuple[str, str]]:
        """(name, text) of each canned reply in the ticket's language (content: inbox.canned.*)."""
        keys = sorted(k for k in self.content.keys(locale) if k.startswith("inbox.canned."))
        return [(k.rsplit(".", 1)[1], self.content.render(k, locale)) for k in keys]

    def reply(self, staff: str, n: int, text: str = "", canned: str = "") -> Done:
        ticket = self.tickets.get(n)
        if ticket is None:
            return GONE
        text, used = (text or "").strip(), ""
        if not text and canned:
            text = dict(self.canned(ticket.locale)).get(canned, "")
            if not text:
                return Done(False, f"There is no canned reply {canned!r}.", 400)
            used = f" (canned: {canned})"
        problem = _too_long(text)
        if problem:
            return Done(False, problem, 400)
        now = self.clock()
        sealed = self.tickets.vault.seal(text)
        entry = _json({"at": now, "kind": "out", "by": staff, "text": sealed})
        result = self._reply(keys=[inbox_ticket_key(n), inbox_messages_key(n)],
                             args=[staff, now, entry, self.tickets.ttl])
        code = int(result[0])
        if code == -1:
            return GONE
        if code == -2:
            return CLOSED_ALREADY
        if code == 0:
            owner = _text(result[1])
            return Done(False, f"{owner} has ticket #{n}: ask them, or an admin, to transfer it "
                               "to you.", 409)
        index, first, took, first_claim = (int(x) for x in result[1:5])
        if took:
            self._claimed(staff, n, now, first=bool(first_claim))
        if first:
            pipe = self.redis.pipeline(transaction=False)
            figures.sample(pipe, "first", ticket.opened, now - ticket.due, self.tickets.tz)
            pipe.execute()
            figures.refresh_typical(self.redis, _utc(now), self.tickets.tz)
        self._send(n, index)
        self.record(staff, "inbox reply", f"ticket #{n}{used}")
        self.tickets.events.notify("reply", n)
        return Done(True, "Reply queued.")

    def _send(self, n: int, index: int) -> None:
        self.queue.enqueue(f"{timers.JOBS}.send", n, index, job_id=timers.job_id("send", n, index),
                           result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
                           description="inbox text")

    def notice(self, n: int, key: str, what: str = "") -> int:
        """A text the helpline itself sends on the ticket (no one free yet, closed): kept in the
        thread by its content key, and queued like a reply."""
        index = self.tickets.push(n, {"at": self.clock(), "kind": "notice", "key": key,
                                      "what": what})
        self.tickets.set_status(n, index, "queued")
        self._send(n, index)
        return index

    # --- notes, transfers, snoozes, closes -----------------------------------------------------
    def note(self, staff: str, n: int, text: str) -> Done:
        text = (text or "").strip()
        if not text:
            return Done(False, "Write the note first.", 400)
        if len(text) > MAX_NOTE:
            return Done(False, f"Notes are at most {MAX_NOTE} characters.", 400)
        ticket = self.tickets.get(n)
        if ticket is None:
            return GONE
        self.tickets.push(n, {"at": self.clock(), "kind": "note", "by": staff,
                              "text": self.tickets.vault.seal(text)})
        self.record(staff, "inbox note", f"ticket #{n}")
        self.tickets.events.notify("note", n)
        return Done(True, "Note added.")

    def transfer(self, staff: str, n: int, to: str, admin: bool, why: str = "") -> Done:
        """To another staff member (`to`), or back to the queue (`to` empty); `why` replaces
        the thread's line (a timer's reason)."""
        now = self.clock()
        code, owner = _pair(self._transfer(keys=[inbox_ticket_key(n)],
                                           args=[staff, now, to, "1" if admin else ""]))
        if code in (-1, -2):
            return GONE if code == -1 else CLOSED_ALREADY
        if code == 0:
            return Done(False, f"Only {owner or 'its owner'} or an admin can hand on ticket #{n}.",
                        403)
        what = why or (f"handed to {to} by {staff}" if to else f"put back in the queue by {staff}")
        self.tickets.push(n, {"at": now, "kind": "event", "what": what})
        if to:
            timers.book_now(self.redis, "silent", n, now + self.silent, anchor=now)
        self.record(staff, "inbox transfer", f"ticket #{n} to {to or 'the queue'}")
        self.tickets.events.notify("transfer", n)
        return Done(True, f"Ticket #{n} is with {to} now." if to
                    else f"Ticket #{n} is back in the queue.")

    def snooze(self, staff: str, n: int, minutes: int, admin: bool) -> Done:
        ticket = self.tickets.get(n)
        if ticket is None:
            return GONE
        if not ticket.is_open:
            return CLOSED_ALREADY
        if ticket.status == CLAIMED and ticket.owner != staff and not admin:
            return Done(False, f"{ticket.owner} has ticket #{n}.", 403)
        if minutes not in SNOOZES:
            return Done(False, "Snooze for 30, 60, 120 or 240 minutes.", 400)
        now = self.clock()
        until = now + minutes * 60
        pipe = self.redis.pipeline()
        pipe.hset(inbox_ticket_key(n), "snoozed", until)
        pipe.hdel(inbox_ticket_key(n), "owed")  # the silent timer waits for the person again
        pipe.execute()
        self.tickets.push(n, {"at": now, "kind": "event",
                              "what": f"snoozed for {minutes} min by {staff}"})
        timers.book_now(self.redis, "wake", n, until, anchor=until)
        self.record(staff, "inbox snooze", f"ticket #{n} for {minutes} min")
        self.tickets.events.notify("snooze", n)
        return Done(True, f"Ticket #{n} is snoozed for {minutes} minutes, or until the person "
                          "texts.")

    def close(self, staff: str, n: int, admin: bool) -> Done:
        ticket = self.tickets.get(n)
        if ticket is None:
            return GONE
        now = self.clock()
        code, owner = self.tickets.close(ticket, staff, now, actor=staff, admin=admin)
        if code in (-1, -2):
            return GONE if code == -1 else CLOSED_ALREADY
        if code == 0:
            return Done(False, f"{owner} has ticket #{n}: only they or an admin can close it.", 403)
        self.tickets.push(n, {"at": now, "kind": "event", "what": f"closed by {staff}"})
        self.notice(n, "inbox.closed_by_team")
        self.record(staff, "inbox close", f"ticket #{n}")
        self.tickets.events.notify("closed", n)
        return Done(True, f"Ticket #{n} is closed; the person was told, and the bot answers "
                          "them again.")


def _too_long(text: str) -> str | None:
    if not text:
        return "Write a reply first, or pick a canned reply."
    seg = segments(text)
    if seg.count > MAX_SEGMENTS:
        return (f"That reply is {seg.count} texts long ({seg.encoding}, {seg.units} characters); "
                f"keep it to {MAX_SEGMENTS}.")
    return None


def _pair(result) -> tuple[int, str]:
    return int(result[0]), _text(result[1]) if len(result) > 1 else ""


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _json(entry: dict) -> str:
    return json.dumps(entry, separators=(",", ":"))


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)

