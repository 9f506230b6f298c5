"""Conversation state in Redis: the step's one read and its atomic commit, opt-outs, counts.

Keys hold keyed hashes (bot.privacy.vault.Vault), never phone numbers. Conversation state and dedupe
records expire; opt-outs do not (a STOP must outlive any session).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping, Sequence

import orjson
import redis

from bot.storage.keys import (  # noqa: F401  (re-exported: callers import them from here)
    session_key, dedupe_key, optout_key, language_key, stats_key, moves_key, rate_key, replies_key, calls_key, call_key, PREFIX, DISPATCH_KEY, SENDS_KEY, OUTBOUND_RATE_KEY)
from bot.storage.lane import lane_for
from bot.storage.tombstone import Tombstones

STATS_TTL = 400 * 86400
RATE_TTL = 120  # a minute's count outlives its minute, then expires
# Take one message back from a rate count, leaving no key behind when it was the only one.
_UNCOUNT = "local n = redis.call('DECR', KEYS[1]) if n <= 0 then redis.call('DEL', KEYS[1]) end"
LANGUAGE_TTL = 90 * 86400  # a language choice outlives the 1-hour conversation, not forever


@dataclass(frozen=True)
class Turn:
    """What one message did: the reply texts and whether it was a repeat delivery."""

    messages: list[str]
    duplicate: bool
    state: dict | None = None
    result: object = None


@dataclass(frozen=True)
class Reading:
    """Everything one turn reads, fetched in a single round trip (Store.advance)."""

    state: dict | None  # the conversation, None when there is none (new or expired)
    opted_out: bool
    count: int  # this person's messages in the rate window, this one included (0: no window)
    language: str | None  # the language they last used, for a new conversation
    extra: list  # results of the caller's own reads (e.g. check-in facts), in the order given


# Commands a caller may add to a turn's read (Store.advance `reads`): plain reads of one key.
READS = frozenset({"GET", "EXISTS", "HGETALL"})

# The read of one turn: each key in KEYS with the command in the same place of ARGV; INCR (the
# rate count) also sets its key's expiry, ARGV's last value. One script call, one reply, where a
# pipeline of ten commands costs ten replies to parse.
_READ = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call(ARGV[i], key)
  if ARGV[i] == 'INCR' then redis.call('EXPIRE', key, ARGV[#KEYS + 1]) end
end
return out"""

# The commit of one turn: it applies the turn's writes only if the conversation is still the one
# the turn read and no other delivery of the message has committed; otherwise it writes nothing
# and the turn is read and computed again. One round trip, where WATCH + MULTI/EXEC take two.
# KEYS: session, dedupe record (optional). ARGV: the SHA-1 of the session as read ('' when there
# was none), then the writes, each as its argument count followed by the command and arguments.
# The writes' own keys are not in KEYS: fine on one Redis (or Sentinel-managed master), which is
# what this service runs on; Redis Cluster would need them declared.
_COMMIT = """
local current = redis.call('GET', KEYS[1])
if (current and redis.sha1hex(current) or '') ~= ARGV[1] then return 0 end
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1"""


def count_daily(pipe, key: str, field: str, n: int = 1) -> None:
    """Add to one day's anonymous counter hash, which is kept STATS_TTL (screens, check-ins)."""
    pipe.hincrby(key, field, n)
    pipe.expire(key, STATS_TTL)


def count_sends(target, counts: Mapping[str, int]) -> None:
    """Anonymous counts of outbound texts by result (a client or a pipeline); no expiry, as
    Prometheus counters."""
    for result, n in counts.items():
        target.hincrby(SENDS_KEY, result, n)


def _dumps(value) -> bytes:
    """JSON of a conversation or its replies, by orjson (in C, on every text); what orjson cannot
    write (an integer past 64 bits) falls back to the standard library rather than lose a turn."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def _pairs(flat: list) -> dict:
    """HGETALL's reply as a script returns it, [field, value, ...], as redis-py's dict."""
    return dict(zip(flat[::2], flat[1::2]))


class Store:
    def __init__(self, client: redis.Redis, session_ttl: int = 3600, dedupe_ttl: int = 86400):
        self.redis = client
        self.session_ttl = session_ttl
        self.dedupe_ttl = dedupe_ttl
        self._read = client.register_script(_READ)
        self._commit = client.register_script(_COMMIT)
        self._lane = lane_for(client)  # the turn's two script calls skip the pool's checks
        self._tombstones = Tombstones(client)

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def load_session(self, subject: str) -> dict | None:
        raw = self.redis.get(session_key(subject))
        return orjson.loads(raw) if raw else None

    def save_session(self, subject: str, state: dict) -> None:
        self.redis.set(session_key(subject), _dumps(state), ex=self.session_ttl)

    def put_on_screen(self, subject: str, node: str, locale: str, keep: dict | None = None,
                      epoch: str = "") -> bool:
        """A text we sent (a voice copy, a reminder) ends with "Reply 1 ...": put the person's
        conversation on that screen, so the numbers work; `keep` replaces the screen's vars.
        A job's write: refused (False) when the person was erased since the job's `epoch`."""
        state = dict(self.load_session(subject) or {}, node=node, locale=locale, history=[])
        if keep is not None:
            state["vars"] = dict(keep)
        return self._tombstones.set(subject, epoch, session_key(subject), _dumps(state),
                                    self.session_ttl)

    def advance(self, subject: str, token: str | None,
                compute: Callable[[Reading], tuple[dict, list[str], object]],
                writes: Callable[[redis.client.Pipeline, object], None] | None = None,
                window: int | None = None, reads: Sequence[tuple[str, str]] = ()) -> Turn:
        """Read state, compute the step, write state and reply atomically: two round trips.

        Two webhooks for the same person at once cannot lose an update (the commit is a
        compare-and-set on the conversation as read), and a redelivered message (same token)
        gets the stored reply instead of advancing twice. With a `window` (a clock minute) the
        same read counts the message for the inbound rate limit, once, not again on a retry.
        `reads` are (command, key) pairs (READS) read in that round trip (Reading.extra);
        `writes(pipe, result)` queues writes that commit with the step, all or none.
        """
        skey, dkey = session_key(subject), token and dedupe_key(token)
        rkey = rate_key(subject, window) if window is not None else None
        count = None
        while True:
            cached, raw, reading = self._read_turn(subject, dkey, rkey if count is None else None,
                                                   reads, count)
            count = reading.count
            if cached is not None:
                if rkey:  # a redelivery is not a new message: take its count back
                    self.redis.eval(_UNCOUNT, 1, rkey)
                return Turn(orjson.loads(cached), True)
            state, messages, result = compute(reading)
            args: list = [hashlib.sha1(raw).hexdigest() if raw is not None else "",
                          5, "SET", skey, _dumps(state),
                          "EX", self.session_ttl]
            if dkey:
                args += [5, "SET", dkey, _dumps(messages), "EX", self.dedupe_ttl]
            if writes is not None:
                pipe = self.redis.pipeline(transaction=False)  # records writes, never executed
                writes(pipe, result)
                for command, _ in pipe.command_stack:
                    args += [len(command), *command]
            if self._lane.script(self._commit, [skey, dkey] if dkey else [skey], args):
                return Turn(messages, False, state, result)

    def _read_turn(self, subject: str, dkey: str | None, rkey: str | None,
                   reads: Sequence[tuple[str, str]], count: int | None) -> tuple:
        """One script call: session, opt-out, language, the dedupe record, the rate count (first
        read only) and the caller's reads."""
        keys = [session_key(subject), optout_key(subject), language_key(subject)]
        commands = ["GET", "EXISTS", "GET"]
        if dkey:
            keys.append(dkey)
            commands.append("GET")
        if rkey:
            keys.append(rkey)
            commands.append("INCR")
        own = len(keys)
        for command, key in reads:
            if command not in READS:
                raise ValueError(f"{command} is not a read a turn may make")
            keys.append(key)
            commands.append(command)
        found = self._lane.script(self._read, keys, commands + [RATE_TTL])
        raw, opted_out, language = found[:3]
        cached = found[3] if dkey else None
        if rkey:
            count = int(found[own - 1])
        extra = [_pairs(value) if command == "HGETALL" else value
                 for (command, _), value in zip(reads, found[own:])]
        return cached, raw, Reading(orjson.loads(raw) if raw else None, bool(opted_out), count or 0,
                                    language.decode() if language else None, extra)

    def index_reply(self, subject: str, token: str, pipe) -> None:
        """Note a dedupe token under the person (in the step's MULTI), for FORGET to find."""
        key = replies_key(subject)
        pipe.sadd(key, token)
        pipe.expire(key, self.dedupe_ttl)

    def update_call(self, token: str,
                    change: Callable[[dict | None], tuple[dict | None, object]],
                    subject: str | None = None) -> object:
        """Read, change and write one call's record atomically (WATCH/MULTI).

        A retried voice webhook racing the first delivery cannot advance the call twice;
        `change` returns (record to write or None to leave it, result for the caller). The
        caller's `subject` indexes the record, so FORGET can erase it.
        """
        key, box = call_key(token), {}

        def transaction(pipe: redis.client.Pipeline) -> None:
            raw = pipe.get(key)
            record, box["result"] = change(json.loads(raw) if raw else None)
            pipe.multi()
            if record is not None:
                pipe.set(key, json.dumps(record), ex=self.session_ttl)
                if subject:
                    pipe.sadd(calls_key(subject), token)
                    pipe.expire(calls_key(subject), self.session_ttl)

        self.redis.transaction(transaction, key)
        return box["result"]

    def is_opted_out(self, subject: str) -> bool:
        return bool(self.redis.exists(optout_key(subject)))

    def set_opted_out(self, subject: str, opted_out: bool, pipe=None) -> None:
        """Record STOP or START; pass the transaction's pipeline to make it part of the step."""
        target = pipe if pipe is not None else self.redis
        if opted_out:
            target.set(optout_key(subject), "1")
        else:
            target.delete(optout_key(subject))

    def set_language(self, subject: str, locale: str, pipe=None) -> None:
        """Remember the language for LANGUAGE_TTL; pass the step's pipeline to make it atomic."""
        target = pipe if pipe is not None else self.redis
        target.set(language_key(subject), locale, ex=LANGUAGE_TTL)

    def count_visit(self, node: str, now: datetime, pipe=None) -> None:
        """Anonymous usage: how often each screen was shown per day, nothing about who."""
        target = pipe if pipe is not None else self.redis.pipeline(transaction=False)
        count_daily(target, stats_key(now.strftime("%Y-%m-%d")), node)
        if pipe is None:
            target.execute()

    def count_move(self, came_from: str, node: str, now: datetime, pipe) -> None:
        """Anonymous usage: a move from one screen to another (the flow map's arrows)."""
        count_daily(pipe, moves_key(now.strftime("%Y-%m-%d")), f"{came_from}>{node}")

    def moves(self, day: str) -> dict[tuple[str, str], int]:
        found = {}
        for k, v in self.redis.hgetall(moves_key(day)).items():
            a, _, b = k.decode().partition(">")
            found[(a, b)] = int(v)
        return found

    def visits(self, day: str) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall(stats_key(day)).items()}

    def mark_dispatched(self, when: datetime, pipe=None) -> None:
        """The check-in dispatcher records each run, so /healthz can tell a stalled scheduler."""
        (pipe if pipe is not None else self.redis).set(DISPATCH_KEY, when.isoformat())

    def last_dispatch(self) -> datetime | None:
        raw = self.redis.get(DISPATCH_KEY)
        return datetime.fromisoformat(raw.decode()) if raw else None

    def sends(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall(SENDS_KEY).items()}

    def forget(self, subject: str, now: float | None = None) -> int:
        """Erase what this module keeps about a person: conversation, language, opt-out, the
        replies kept for redeliveries, call records and rate counts (bot/privacy/forget.py does the rest)."""
        reads = self.redis.pipeline(transaction=False)
        reads.smembers(replies_key(subject))
        reads.smembers(calls_key(subject))
        replies, calls = reads.execute()
        minute = int((time.time() if now is None else now) // 60)
        keys = [session_key(subject), optout_key(subject), language_key(subject),
                replies_key(subject), calls_key(subject)]
        keys += [dedupe_key(t.decode()) for t in replies] + [call_key(t.decode()) for t in calls]
        keys += [rate_key(subject, m) for m in range(minute - 3, minute + 3)]  # clock skew
        return int(self.redis.delete(*keys))
