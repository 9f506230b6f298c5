"""One send rate for every worker: a token bucket in Redis that hands out start times.

Twilio's long codes take about one segment a second; going faster gets 429s and dropped texts.
Each send asks the bucket for a start time (a Lua script, atomic across workers and machines)
and sleeps until then, so a morning batch of 10,000 is spread over the hour, never refused.
The clock is Redis's own (TIME), so workers on different machines agree. At a high rate (a
short code, or the limit lifted) a process may book up to `prepay` seconds of the rate at once
and spend it without asking again: one round trip per few texts instead of one per text.
"""
from __future__ import annotations

import threading
import time

import redis

from bot.storage.lane import lane_for

# GCRA with reservations: `tat` is when the bucket's debt is paid off. A send may start once the
# debt is within burst-1 emissions; it then adds its cost (segments) to the debt.
_TAKE = """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local interval = 1 / rate
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now - (burst - 1) * interval
if wait < 0 then wait = 0 end
local new_tat = tat + cost * interval
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX',
           math.ceil((new_tat - now) * 1000) + 1000)
return string.format('%.6f', wait)
"""


MAX_PREPAID = 20  # segments booked at once, however high the rate


class TokenBucket:
    """`rate` segments per second shared by all workers, with up to `burst` at once.

    The key comes from bot/storage/store.py (outbound_rate_key), which owns Redis key names. With
    `prepay` > 0, wait() books up to that many seconds of segments in one go (at least the
    cost, at most MAX_PREPAID) and hands the rest to this process's next sends, for as long as
    they last; what is not used within `prepay` seconds is given up, never sent late.
    """

    def __init__(self, client: redis.Redis, key: str, rate: float, burst: int = 1,
                 prepay: float = 0.0):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        self.rate, self.burst, self.key = float(rate), int(burst), key
        self._take = client.register_script(_TAKE)
        self._lane = lane_for(client)  # one call per text sent: held connections (bot/storage/lane.py)
        self._block, self._prepay = min(MAX_PREPAID, int(self.rate * prepay)), prepay
        self._lock = threading.Lock()
        self._credit, self._from, self._until = 0, 0.0, 0.0

    def reserve(self, cost: int = 1, now: float | None = None) -> float:
        """Seconds to wait before sending `cost` segments; the slot is booked when this returns."""
        args = [self.rate, self.burst, max(1, int(cost)), "" if now is None else f"{now:.6f}"]
        return float(self._lane.script(self._take, [self.key], args))

    def wait(self, cost: int = 1, sleep=time.sleep) -> float:
        """Book a slot and sleep until it comes; returns the seconds waited."""
        delay = self._spend(cost) if self._block > cost else None
        if delay is None:
            booked = max(cost, self._block)
            delay = self.reserve(booked)
            if booked > cost:  # the rest of the block: from its start, for `prepay` seconds
                start = time.monotonic() + delay
                with self._lock:
                    self._credit, self._from = booked - cost, start
                    self._until = start + self._prepay
        if delay > 0:
            sleep(delay)
        return delay

    def _spend(self, cost: int) -> float | None:
        """Seconds to wait when this process's booked block covers `cost`, else None."""
        with self._lock:
            now = time.monotonic()
            if self._credit < cost or now >= self._until:
                return None
            self._credit -= cost
            return max(0.0, self._from - now)
