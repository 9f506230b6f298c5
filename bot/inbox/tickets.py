"""Tickets in Redis: one open ticket per person, its thread (texts encrypted with the vault), its
state, and the writes a text makes in the step's own transaction.

A ticket is a hash (inbox_ticket_key) and a thread (inbox_messages_key), both kept
INBOX_RETENTION_DAYS after their last change; the person's open pointer and ticket list carry
the keyed hash so that each text finds its ticket and FORGET finds them all. Staff see a ticket
number and an alias drawn from the keyed hash, never the phone number, which is kept encrypted
only to text the person back. Staff actions (claims, replies...) are in actions.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import redis
from rq import Queue

from bot.checkins.dispatch import SEND_QUEUE
from bot.inbox import figures, scripts, timers
from bot.inbox.events import Events
from bot.storage.keys import (INBOX_ALL_KEY, INBOX_SEQ_KEY, inbox_messages_key, inbox_open_key,
                              inbox_person_key, inbox_sid_key, inbox_ticket_key)

WAITING, CLAIMED, CLOSED = "waiting", "claimed", "closed"
ADJECTIVES = ("Amber", "Aspen", "Birch", "Blue", "Brave", "Bright", "Calm", "Cedar", "Clear",
              "Cloud", "Copper", "Early", "Fern", "Gentle", "Golden", "Green", "Kind", "Lake",
              "Maple", "Misty", "North", "Pine", "Prairie", "Quiet", "River", "Silver", "Snow",
              "Stone", "Sun", "Swift", "Willow", "Wild")
ANIMALS = ("Badger", "Bear", "Beaver", "Bee", "Bison", "Crane", "Deer", "Eagle", "Elk", "Finch",
           "Fox", "Frog", "Hare", "Hawk", "Heron", "Loon", "Lynx", "Marten", "Mink", "Moose",
           "Moth", "Otter", "Owl", "Pike", "Robin", "Swan", "Trout", "Turtle", "Vole", "Walleye",
           "Wolf", "Wren")


def alias(token: str) -> str:
    """Two words from a keyed hash: the same person reads the same way, and it names no one."""
    n = int(token[:8], 16)
    return f"{ADJECTIVES[n % 32]} {ANIMALS[(n // 32) % 32]}"


def _num(raw, cast=float):
    return cast(raw) if raw not in (None, b"", "") else None


@dataclass(frozen=True)
class Ticket:
    """One ticket as staff see it; `num` (encrypted) is for the sending job only."""

    n: int
    alias: str
    locale: str
    mode: str
    status: str
    owner: str
    urgent: bool
    opened: float
    due: float
    claimed: float | None = None
    first_reply: float | None = None
    last_person: float | None = None
    last_staff: float | None = None
    owed: float | None = None
    snoozed: float | None = None
    closed: float | None = None
    closed_by: str = ""
    told: bool = False
    statuses: dict = field(default_factory=dict)
    num: str = ""

    @classmethod
    def load(cls, n: int, raw: dict) -> "Ticket | None":
        data = {(k.decode() if isinstance(k, bytes) else k):
                (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}
        if "status" not in data:
            return None
        return cls(n, data.get("alias", ""), data.get("locale", "en"), data.get("mode", "live"),
                   data["status"], data.get("owner", ""), data.get("urgent") == "1",
                   float(data.get("opened", 0)), float(data.get("due") or data.get("opened", 0)),
                   _num(data.get("claimed")), _num(data.get("first_reply")),
                   _num(data.get("last_person")), _num(data.get("last_staff")),
                   _num(data.get("owed")), _num(data.get("snoozed")), _num(data.get("closed")),
                   data.get("closed_by", ""), data.get("told") == "1",
                   {int(k[1:]): v for k, v in data.items() if k[:1] == "s" and k[1:].isdigit()},
                   data.get("num", ""))

    @property
    def is_open(self) -> bool:
        return self.status != CLOSED

    def snoozed_at(self, now: float) -> bool:
        return bool(self.snoozed and self.snoozed > now and self.is_open)

    @property
    def activity(self) -> float:
        """The last message either way (or when it became due): the idle timer's anchor."""
        return max(self.due, self.last_person or 0, self.last_staff or 0)

    @property
    def waiting_since(self) -> float:
        """What the queue is ordered by: the oldest unanswered message, or when it became due."""
        return self.due if self.status == WAITING else (self.owed or self.activity)


@dataclass(frozen=True)
class Entry:
    """One line of a thread: the person's text, a reply, a note, what the bot said, an event."""

    n: int
    at: float
    kind: str  # in, out, note, notice, bot, event
    by: str = ""
    text: str = ""
    key: str = ""  # notice: the content key sent; bot: the screen the bot answered with
    what: str = ""
    status: str = ""


class Tickets:
    def __init__(self, client: redis.Redis, vault, events: Events, tz: ZoneInfo,
                 retention_days: int = 7, unclaimed_minutes: int = 10, idle_hours: int = 24):
        self.redis, self.vault, self.events, self.tz = client, vault, events, tz
        self.ttl = retention_days * 86400
        self.unclaimed = unclaimed_minutes * 60
        self.idle = idle_hours * 3600
        self.queue = Queue(SEND_QUEUE, connection=client)
        self._close = client.register_script(scripts.CLOSE)
        self._status = client.register_script(scripts.STATUS)

    # --- reading ---------------------------------------------------------------------------
    def get(self, n: int) -> Ticket | None:
        return Ticket.load(n, self.redis.hgetall(inbox_ticket_key(n)))

    def all(self) -> list[Ticket]:
        """Every ticket still kept (open ones, and closed ones until their retention ends)."""
        numbers = [int(n) for n in self.redis.zrange(INBOX_ALL_KEY, 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for n in numbers:
            pipe.hgetall(inbox_ticket_key(n))
        found, gone = [], []
        for n, raw in zip(numbers, pipe.execute()):
            ticket = Ticket.load(n, raw)
            (found if ticket else gone).append(ticket or n)
        if gone:
            self.redis.zrem(INBOX_ALL_KEY, *gone)
        return found

    def thread(self, ticket: Ticket) -> list[Entry]:
        entries = []
        for i, raw in enumerate(self.redis.lrange(inbox_messages_key(ticket.n), 0, -1)):
            data = json.loads(raw)
            text = self.vault.unseal(data["text"]) if data.get("text") else ""
            entries.append(Entry(i, float(data.get("at", 0)), data.get("kind", "event"),
                                 data.get("by", ""), text or "", data.get("key", ""),
                                 data.get("what", ""), ticket.statuses.get(i, "")))
        return entries

    def entry(self, n: int, i: int) -> dict | None:
        raw = self.redis.lindex(inbox_messages_key(n), i)
        return json.loads(raw) if raw else None

    def number(self, ticket: Ticket) -> str | None:
        """The person's number, decrypted for a send; never shown, logged or stored in the clear."""
        return self.vault.decrypt(ticket.num) if ticket.num else None

    # --- in the step's own transaction (bot/inbox/host.py) -------------------------------------
    def open(self, pipe, subject: str, number: str, data: dict) -> int:
        """A new ticket for this person, with its unclaimed and idle timers, in the step's MULTI.
        The number is taken first (one round trip; a step that is computed again skips one)."""
        n = int(self.redis.incr(INBOX_SEQ_KEY))
        at, due = float(data["at"]), float(data.get("due") or data["at"])
        key = inbox_ticket_key(n)
        pipe.hset(key, mapping={
            "status": WAITING, "alias": alias(self.vault.token("alias:" + subject)),
            "locale": data["locale"], "mode": data["mode"], "opened": at, "due": due,
            "num": self.vault.encrypt(number), "urgent": "0"})
        pipe.expire(key, self.ttl)
        pipe.set(inbox_open_key(subject), f"{n}|{data['locale']}", ex=self.ttl)
        pipe.sadd(inbox_person_key(subject), n)
        pipe.expire(inbox_person_key(subject), self.ttl)
        pipe.zadd(INBOX_ALL_KEY, {n: at})
        pipe.expire(INBOX_ALL_KEY, self.ttl)  # every ticket in it is gone by then
        self._push(pipe, n, {"at": at, "kind": "event", "what": "opened" if data["mode"] == "live"
                             else "left a message outside staffed hours"})
        figures.count(pipe, at, self.tz, "opened", by_hour=True)
        timers.book(pipe, self.queue, "unclaimed", n, due + self.unclaimed)
        timers.book(pipe, self.queue, "idle", n, due + self.idle, anchor=due)
        return n

    def append(self, pipe, subject: str, data: dict) -> None:
        """A text from the person (and what the bot answered, when it did), in the step's MULTI."""
        n, at = int(data["ticket"]), float(data["at"])
        key = inbox_ticket_key(n)
        self._push(pipe, n, {"at": at, "kind": "in", "text": self.vault.seal(data["text"])})
        for said in data.get("said") or ():
            self._push(pipe, n, {"at": at, "kind": "bot", "key": said})
        if data.get("urgent"):
            pipe.hset(key, "urgent", "1")
        pipe.hset(key, "last_person", at)
        pipe.hsetnx(key, "owed", at)  # the oldest unanswered text; a reply clears it
        pipe.hdel(key, "snoozed")     # the person texting brings a snoozed ticket back
        for k in (key, inbox_open_key(subject), inbox_person_key(subject)):
            pipe.expire(k, self.ttl)

    def close_in_step(self, pipe, subject: str, data: dict) -> None:
        """The person ended the chat (their end word) or texted STOP, in the step's MULTI."""
        n, at = int(data["ticket"]), float(data["at"])
        what = {"stop": "the person texted STOP: closed, no more texts can go to them",
                "person": "the person ended the chat"}.get(data["by"], "closed")
        self._push(pipe, n, {"at": at, "kind": "event", "what": what})
        pipe.hset(inbox_ticket_key(n), mapping={"status": CLOSED, "closed": at,
                                                "closed_by": data["by"]})
        pipe.hdel(inbox_ticket_key(n), "owed", "snoozed")
        pipe.delete(inbox_open_key(subject))

    # --- outside a step ------------------------------------------------------------------------
    def push(self, n: int, entry: dict) -> int:
        """Add one line to a thread; returns its index."""
        pipe = self.redis.pipeline()
        self._push(pipe, n, entry)
        pipe.expire(inbox_ticket_key(n), self.ttl)
        return int(pipe.execute()[0]) - 1

    def _push(self, pipe, n: int, entry: dict) -> None:
        pipe.rpush(inbox_messages_key(n), json.dumps(entry, separators=(",", ":")))
        pipe.expire(inbox_messages_key(n), self.ttl)

    def close(self, ticket: Ticket, by: str, at: float, actor: str = "",
              admin: bool = True) -> tuple[int, str]:
        """Close once (a staff member, a timer): the bot answers the person again."""
        number = self.number(ticket)
        subject = self.vault.subject(number) if number else "-"
        result = self._close(keys=[inbox_ticket_key(ticket.n), inbox_open_key(subject)],
                             args=[at, by, actor, "1" if admin else "", ticket.n])
        code = int(result[0])
        owner = result[1].decode() if len(result) > 1 and isinstance(result[1], bytes) else ""
        if code == 1:
            self.counted(ticket.n)
        return code, owner

    def counted(self, n: int) -> None:
        """Once per ticket, at its close: handled (someone replied) or abandoned, and urgent."""
        ticket = self.get(n)
        if ticket is None or not self.redis.hsetnx(inbox_ticket_key(n), "counted", "1"):
            return
        pipe = self.redis.pipeline(transaction=False)
        figures.count(pipe, ticket.opened, self.tz,
                      "handled" if ticket.first_reply else "abandoned", by_hour=True)
        if ticket.urgent:
            figures.count(pipe, ticket.opened, self.tz, "urgent")
        pipe.execute()

    def set_status(self, n: int, i: int, state: str) -> bool:
        rank = scripts.STATUS_RANKS.get(state)
        if rank is None:
            return False
        return bool(self._status(keys=[inbox_ticket_key(n)], args=[f"s{i}", state, rank]))

    def remember_sid(self, sid: str, n: int, i: int) -> None:
        self.redis.set(inbox_sid_key(sid), f"{n}:{i}", ex=self.ttl)

    def by_sid(self, sid: str) -> tuple[int, int] | None:
        raw = self.redis.get(inbox_sid_key(sid))
        if not raw:
            return None
        n, _, i = raw.decode().partition(":")
        return int(n), int(i)

    # --- FORGET --------------------------------------------------------------------------------
    def forget(self, subject: str) -> int:
        """Erase every ticket of the person: threads, state, timers, pointers."""
        numbers = [int(n) for n in self.redis.smembers(inbox_person_key(subject))]
        for n in numbers:
            self.counted(n)  # the anonymous figures keep the ticket's count, never the ticket
        timers.cancel_all(self.redis, numbers)
        keys = [inbox_open_key(subject), inbox_person_key(subject)]
        keys += [k for n in numbers for k in (inbox_ticket_key(n), inbox_messages_key(n))]
        pipe = self.redis.pipeline()
        pipe.delete(*keys)
        if numbers:
            pipe.zrem(INBOX_ALL_KEY, *numbers)
        pipe.execute()
        for n in numbers:
            self.events.notify("erased", n)
        return len(numbers)
