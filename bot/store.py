"""The only module that knows Redis key names: sessions, dedupe, opt-outs, usage counts.

Keys hold keyed hashes (bot.privacy.Vault), never phone numbers. Conversation state and dedupe
records expire; opt-outs do not (a STOP must outlive any session).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import redis

PREFIX = "hl"
STATS_TTL = 400 * 86400
RATE_TTL = 120  # a minute's count outlives its minute, then expires
# Take one message back from a rate count, leaving no key behind when it was the only one.
_UNCOUNT = "local n = redis.call('DECR', KEYS[1]) if n <= 0 then redis.call('DEL', KEYS[1]) end"
LANGUAGE_TTL = 90 * 86400  # a language choice outlives the 1-hour conversation, not forever


def session_key(subject: str) -> str:
    return f"{PREFIX}:s:{subject}"


def dedupe_key(token: str) -> str:
    return f"{PREFIX}:m:{token}"


def optout_key(subject: str) -> str:
    return f"{PREFIX}:optout:{subject}"


def language_key(subject: str) -> str:
    return f"{PREFIX}:lang:{subject}"


def stats_key(day: str) -> str:
    return f"{PREFIX}:stats:{day}"


def rate_key(subject: str, window: int) -> str:
    """Messages from one person in one clock minute (bot/limits.py), gone two minutes later."""
    return f"{PREFIX}:rate:{subject}:{window}"


def replies_key(subject: str) -> str:
    """The person's dedupe tokens, so FORGET can find the replies kept under MessageSid hashes."""
    return f"{PREFIX}:mi:{subject}"


def calls_key(subject: str) -> str:
    """The person's call tokens, so FORGET can find call records kept under CallSid hashes."""
    return f"{PREFIX}:calls:{subject}"


def call_key(token: str) -> str:
    """One phone call's place in the menu, keyed by Vault.token(CallSid), never the number."""
    return f"{PREFIX}:call:{token}"


DISPATCH_KEY = f"{PREFIX}:dispatch:last"  # when the check-in dispatcher last ran (ISO time)
SENDS_KEY = f"{PREFIX}:metrics:sends"  # outbound texts by result, summed over every worker
OUTBOUND_RATE_KEY = f"{PREFIX}:outbound:bucket"  # bot/ratelimit.py: the send rate all workers share


@dataclass(frozen=True)
class Turn:
    """What one message did: the reply texts and whether it was a repeat delivery."""

    messages: list[str]
    duplicate: bool
    state: dict | None = None
    result: object = None


class Store:
    def __init__(self, client: redis.Redis, session_ttl: int = 3600, dedupe_ttl: int = 86400):
        self.redis = client
        self.session_ttl = session_ttl
        self.dedupe_ttl = dedupe_ttl

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def load_session(self, subject: str) -> dict | None:
        raw = self.redis.get(session_key(subject))
        return json.loads(raw) if raw else None

    def save_session(self, subject: str, state: dict) -> None:
        self.redis.set(session_key(subject), json.dumps(state), ex=self.session_ttl)

    def put_on_screen(self, subject: str, node: str, locale: str, keep: dict | None = None) -> None:
        """A text we sent (a voice copy, a reminder) ends with "Reply 1 ...": put the person's
        conversation on that screen, so the numbers work; `keep` replaces the screen's vars."""
        state = dict(self.load_session(subject) or {}, node=node, locale=locale, history=[])
        if keep is not None:
            state["vars"] = dict(keep)
        self.save_session(subject, state)

    def advance(self, subject: str, token: str | None,
                compute: Callable[[dict | None, bool, int], tuple[dict, list[str], object]],
                writes: Callable[[redis.client.Pipeline, object], None] | None = None,
                window: int | None = None) -> Turn:
        """Read state, compute the step, write state and reply atomically (WATCH/MULTI).

        Two webhooks for the same person at once cannot lose an update, and a redelivered
        message (same token) gets the stored reply instead of advancing twice. With a `window`
        (a clock minute) the same read also counts the message for the inbound rate limit;
        compute gets that count (0 without a window).
        """
        skey, dkey, okey = session_key(subject), token and dedupe_key(token), optout_key(subject)
        rkey = rate_key(subject, window) if window is not None else None
        watched = [skey] + ([dkey] if dkey else [])
        count = None
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(*watched)
                    # Reads after WATCH may use another connection: one round trip for all,
                    # the rate count included (counted once, not again after a WatchError).
                    cached, raw, opted_out, seen = self._read_turn(
                        dkey, skey, okey, rkey if count is None else None)
                    count = seen if count is None else count
                    if cached is not None:
                        pipe.reset()
                        if rkey:  # a redelivery is not a new message: take its count back
                            self.redis.eval(_UNCOUNT, 1, rkey)
                        return Turn(json.loads(cached), True)
                    state, messages, result = compute(json.loads(raw) if raw else None,
                                                      opted_out, count or 0)
                    pipe.multi()
                    pipe.set(skey, json.dumps(state, separators=(",", ":")), ex=self.session_ttl)
                    if dkey:
                        pipe.set(dkey, json.dumps(messages), ex=self.dedupe_ttl)
                    if writes is not None:
                        writes(pipe, result)
                    pipe.execute()
                    return Turn(messages, False, state, result)
                except redis.WatchError:
                    continue

    def _read_turn(self, dkey: str | None, skey: str, okey: str, rkey: str | None = None) -> tuple:
        reads = self.redis.pipeline(transaction=False)
        reads.get(dkey) if dkey else reads.echo("")
        reads.get(skey)
        reads.exists(okey)
        if rkey:
            reads.incr(rkey)
            reads.expire(rkey, RATE_TTL)
        found = reads.execute()
        cached, raw, opted_out = found[:3]
        return (cached if dkey else None), raw, bool(opted_out), (int(found[3]) if rkey else None)

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

    def language(self, subject: str) -> str | None:
        """The language this person last chose or wrote in, for their next conversation."""
        raw = self.redis.get(language_key(subject))
        return raw.decode() if raw else None

    def set_language(self, subject: str, locale: str, pipe=None) -> None:
        """Remember the language for LANGUAGE_TTL; pass the step's pipeline to make it atomic."""
        target = pipe if pipe is not None else self.redis
        target.set(language_key(subject), locale, ex=LANGUAGE_TTL)

    def count_visit(self, node: str, now: datetime, pipe=None) -> None:
        """Anonymous usage: how often each screen was shown per day, nothing about who."""
        key = stats_key(now.strftime("%Y-%m-%d"))
        target = pipe if pipe is not None else self.redis.pipeline(transaction=False)
        target.hincrby(key, node, 1)
        target.expire(key, STATS_TTL)
        if pipe is None:
            target.execute()

    def visits(self, day: str) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall(stats_key(day)).items()}

    def mark_dispatched(self, when: datetime, pipe=None) -> None:
        """The check-in dispatcher records each run, so /healthz can tell a stalled scheduler."""
        (pipe if pipe is not None else self.redis).set(DISPATCH_KEY, when.isoformat())

    def last_dispatch(self) -> datetime | None:
        raw = self.redis.get(DISPATCH_KEY)
        return datetime.fromisoformat(raw.decode()) if raw else None

    def count_send(self, result: str, pipe=None) -> None:
        """Anonymous count of one outbound text by result; no expiry, as Prometheus counters."""
        (pipe if pipe is not None else self.redis).hincrby(SENDS_KEY, result, 1)

    def sends(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall(SENDS_KEY).items()}

    def forget(self, subject: str, now: float | None = None) -> int:
        """Erase what this module keeps about a person: conversation, language, opt-out, the
        replies kept for redeliveries, call records and rate counts (bot/forget.py does the rest)."""
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
