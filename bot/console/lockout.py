"""Sign-in throttling that a stranger cannot turn against staff.

Wrong answers are counted per account *and* address (the pair) and per address (whatever names
it tries); never per account alone, so nobody elsewhere can lock a staff member out:
- a pair with PAIR_LIMIT wrong tries waits before its next try: FIRST_DELAY, doubled at each
  further wrong try, at most MAX_DELAY. Absolute: the right password and code wait too, so a
  code cannot be guessed from one address at speed.
- an address with ADDRESS_LIMIT wrong tries gets the same growing delays, except that the right
  password with a valid second factor still gets in (a shared office or proxy address must not
  lock out every colleague). Anything else gets the same 429, so it says nothing about which
  part was wrong.
Failures are forgotten a day after the last one. An admin unlocks an account (all its pairs)
without changing its password. Addresses are kept only as keyed hashes (IPv6 by /64: one
machine has a whole /64 to rotate through).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from flask import request

from bot.console import keys

PAIR_LIMIT = 5
ADDRESS_LIMIT = 20
FIRST_DELAY = 60
MAX_DELAY = 3600
MEMORY = 24 * 3600
MAX_LOCKS_KEPT = 1000  # per account: the newest locked addresses, for the status and unlock


def delay(failures: int, limit: int) -> int:
    """Seconds to wait after the last wrong try: none below the limit, then 1, 2, 4 ... 60 min."""
    if failures < limit:
        return 0
    return min(FIRST_DELAY * 2 ** min(failures - limit, 12), MAX_DELAY)


@dataclass(frozen=True)
class Gate:
    pair_wait: int  # seconds this account must wait from this address (0: may try)
    address_wait: int  # seconds this address must wait, unless the answer is fully right


def address() -> str:
    """The client address as throttled: IPv6 cut to its /64 (ProxyFix has set remote_addr)."""
    raw = request.remote_addr or "?"
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Lockout:
    def __init__(self, client, vault):
        self.redis = client
        self.vault = vault

    def token(self, where: str | None = None) -> str:
        """A keyed hash of the address: the key part and what the audit counts, never the address."""
        return self.vault.token("console-ip:" + (where or address()))

    def gate(self, username: str, now: float) -> Gate:
        pipe = self.redis.pipeline(transaction=False)
        tok = self.token()
        pipe.hmget(keys.failures_pair(username, tok), "n", "last")
        pipe.hmget(keys.failures_address(tok), "n", "last")
        pair, addr = pipe.execute()
        return Gate(_left(pair, PAIR_LIMIT, now), _left(addr, ADDRESS_LIMIT, now))

    def address_wait(self, now: float, limit: int = ADDRESS_LIMIT) -> int:
        return _left(self.redis.hmget(keys.failures_address(self.token()), "n", "last"),
                     limit, now)

    def failed(self, username: str | None, now: float) -> int:
        """Count one wrong try against the address, and against the pair when a name is given
        (any well-formed name: a lock must not tell which accounts exist). Returns the pair's
        count, 0 without a name."""
        tok = self.token()
        pipe = self.redis.pipeline()
        _count(pipe, keys.failures_address(tok), now)
        if username:
            _count(pipe, keys.failures_pair(username, tok), now)
        counted = pipe.execute()
        pair = int(counted[3]) if username else 0
        if pair >= PAIR_LIMIT:
            pipe = self.redis.pipeline()
            pipe.zadd(keys.locks(username), {tok: now + delay(pair, PAIR_LIMIT)})
            pipe.zremrangebyrank(keys.locks(username), 0, -MAX_LOCKS_KEPT - 1)
            pipe.expire(keys.locks(username), MEMORY)
            pipe.execute()
        return pair

    def succeeded(self, username: str) -> None:
        """The right answer from here: this pair starts again from nothing."""
        tok = self.token()
        pipe = self.redis.pipeline()
        pipe.delete(keys.failures_pair(username, tok))
        pipe.zrem(keys.locks(username), tok)
        pipe.execute()

    def locked_from(self, username: str, now: float) -> int:
        """How many addresses this account is locked for now (the staff page shows it)."""
        return self.redis.zcount(keys.locks(username), now, "+inf")

    def unlock(self, username: str) -> int:
        """Lift every lock on the account; the password stays. Returns how many were lifted."""
        toks = [t.decode() for t in self.redis.zrange(keys.locks(username), 0, -1)]
        pipe = self.redis.pipeline()
        for tok in toks:
            pipe.delete(keys.failures_pair(username, tok))
        pipe.delete(keys.locks(username))
        pipe.execute()
        return len(toks)


def _count(pipe, key: str, now: float) -> None:
    pipe.hincrby(key, "n", 1)
    pipe.hset(key, "last", str(now))
    pipe.expire(key, MEMORY)


def _left(record, limit: int, now: float) -> int:
    n, last = record
    if n is None or last is None:
        return 0
    wait = delay(int(n), limit) - (now - float(last))
    return max(0, int(wait + 0.999))
