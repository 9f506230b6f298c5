"""The audit log: who did what, when and from where. Staff user names, actions and source
addresses only, never a texter or a number.

Entries are kept by time, not by count (a sorted set scored by time, AUDIT_DAYS), so no volume of
anything evicts them; and nothing a stranger does writes an entry: failed and refused sign-ins
are counted per hour (per account tried, unknown names, distinct addresses), one small record an
hour however many there are.
"""
from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timezone

import redis
from flask import has_request_context, request

from bot.console import keys

DAY = 86400


def _hour(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H")


class Audit:
    def __init__(self, client):
        self.redis = client

    def record(self, who: str, what: str, detail: str = "", at: float | None = None,
               source: str | None = None) -> None:
        """One staff action; `source` defaults to the request's client address ('cli' outside one)."""
        at = at or time.time()
        if source is None:
            source = (request.remote_addr or "?") if has_request_context() else "cli"
        entry = json.dumps({"at": at, "who": who, "what": what, "detail": detail[:200],
                            "from": source[:64], "id": secrets.token_hex(4)})
        self._write(entry, at)

    def _write(self, entry: str, at: float) -> None:
        pipe = self.redis.pipeline()
        pipe.zadd(keys.AUDIT, {entry: at})
        pipe.zremrangebyscore(keys.AUDIT, "-inf", at - keys.AUDIT_DAYS * DAY)
        try:
            pipe.execute()
        except redis.ResponseError as exc:
            if "WRONGTYPE" not in str(exc):
                raise
            self._upgrade()
            self._write(entry, at)

    def recent(self, n: int = 200, before: float | None = None) -> list[dict]:
        """The newest n entries (older than `before` when given), newest first."""
        try:
            raw = self.redis.zrevrangebyscore(keys.AUDIT, f"({before}" if before else "+inf",
                                              "-inf", start=0, num=n)
        except redis.ResponseError as exc:
            if "WRONGTYPE" not in str(exc):
                raise
            self._upgrade()
            return self.recent(n, before)
        return [json.loads(e) for e in raw]

    def _upgrade(self) -> None:
        """The log used to be a list trimmed to 2,000 entries: move them into the sorted set."""
        old = f"{keys.AUDIT}:list"
        try:
            self.redis.rename(keys.AUDIT, old)
        except redis.ResponseError:
            return  # another process moved it first
        entries = self.redis.lrange(old, 0, -1)
        if entries:
            self.redis.zadd(keys.AUDIT, {e: json.loads(e).get("at", 0) for e in entries})
        self.redis.delete(old)

    # --- failed sign-ins: counted, never one entry each ------------------------------------------
    def failed_sign_in(self, account: str | None, address_token: str, refused: bool,
                       at: float | None = None) -> None:
        """One wrong or refused sign-in: `account` when the name is a real one, else None."""
        hour = _hour(at or time.time())
        counts, addresses = keys.failed_sign_ins(hour), keys.failed_sign_ins(hour) + ":addr"
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(counts, "refused" if refused else "wrong", 1)
        pipe.hincrby(counts, f"name:{account}" if account else "unknown", 1)
        pipe.pfadd(addresses, address_token)
        for key in (counts, addresses):
            pipe.expire(key, keys.AUDIT_DAYS * DAY)
        pipe.execute()

    def failures(self, hours: int = 48, now: float | None = None) -> list[dict]:
        """Per hour with any, newest first: wrong, refused, names tried, unknown names, addresses."""
        now = now or time.time()
        names = [_hour(now - h * 3600) for h in range(hours)]
        pipe = self.redis.pipeline(transaction=False)
        for hour in names:
            pipe.hgetall(keys.failed_sign_ins(hour))
            pipe.pfcount(keys.failed_sign_ins(hour) + ":addr")
        found = pipe.execute()
        rows = []
        for hour, counts, addresses in zip(names, found[::2], found[1::2]):
            if not counts:
                continue
            counts = {k.decode(): int(v) for k, v in counts.items()}
            rows.append({"hour": hour.replace("T", " ") + ":00 UTC",
                         "wrong": counts.get("wrong", 0), "refused": counts.get("refused", 0),
                         "unknown": counts.get("unknown", 0), "addresses": addresses,
                         "accounts": sorted(((k[5:], v) for k, v in counts.items()
                                             if k.startswith("name:")), key=lambda kv: -kv[1])})
        return rows
