"""The only module that knows Redis key names: sessions, dedupe, opt-outs, usage counts.

Keys hold keyed hashes (bot.privacy.Vault), never phone numbers. Conversation state and dedupe
records expire; opt-outs do not (a STOP must outlive any session).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import redis

PREFIX = "hl"
STATS_TTL = 400 * 86400


def session_key(subject: str) -> str:
    return f"{PREFIX}:s:{subject}"


def dedupe_key(token: str) -> str:
    return f"{PREFIX}:m:{token}"


def optout_key(subject: str) -> str:
    return f"{PREFIX}:optout:{subject}"


def stats_key(day: str) -> str:
    return f"{PREFIX}:stats:{day}"


def rate_key(subject: str, window: int) -> str:
    return f"{PREFIX}:rate:{subject}:{window}"


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

    def advance(self, subject: str, token: str | None,
                compute: Callable[[dict | None, bool], tuple[dict, list[str], object]],
                writes: Callable[[redis.client.Pipeline, object], None] | None = None) -> Turn:
        """Read state, compute the step, write state and reply atomically (WATCH/MULTI).

        Two webhooks for the same person at once cannot lose an update, and a redelivered
        message (same token) gets the stored reply instead of advancing twice.
        """
        skey, dkey, okey = session_key(subject), token and dedupe_key(token), optout_key(subject)
        outcome: dict = {}

        def transaction(pipe: redis.client.Pipeline) -> None:
            if dkey:
                cached = pipe.get(dkey)
                if cached is not None:
                    outcome["turn"] = Turn(json.loads(cached), True)
                    pipe.multi()
                    return
            raw = pipe.get(skey)
            opted_out = bool(pipe.exists(okey))
            state, messages, result = compute(json.loads(raw) if raw else None, opted_out)
            pipe.multi()
            pipe.set(skey, json.dumps(state), ex=self.session_ttl)
            if dkey:
                pipe.set(dkey, json.dumps(messages), ex=self.dedupe_ttl)
            if writes is not None:
                writes(pipe, result)
            outcome["turn"] = Turn(messages, False, state, result)

        watched = [skey] + ([dkey] if dkey else [])
        self.redis.transaction(transaction, *watched)
        return outcome["turn"]

    def is_opted_out(self, subject: str) -> bool:
        return bool(self.redis.exists(optout_key(subject)))

    def set_opted_out(self, subject: str, opted_out: bool, pipe=None) -> None:
        """Record STOP or START; pass the transaction's pipeline to make it part of the step."""
        target = pipe if pipe is not None else self.redis
        if opted_out:
            target.set(optout_key(subject), "1")
        else:
            target.delete(optout_key(subject))

    def count_visit(self, node: str, now: datetime) -> None:
        """Anonymous usage: how often each screen was shown per day, nothing about who."""
        key = stats_key(now.strftime("%Y-%m-%d"))
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(key, node, 1)
        pipe.expire(key, STATS_TTL)
        pipe.execute()

    def visits(self, day: str) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall(stats_key(day)).items()}

    def forget(self, subject: str) -> int:
        """Erase what is keyed by this person; other modules add their own keys here."""
        keys = [session_key(subject), optout_key(subject)]
        keys += list(self.redis.scan_iter(match=f"{PREFIX}:rate:{subject}:*", count=500))
        return int(self.redis.delete(*keys))
