"""Refused webhook requests, logged as one summary line per interval, never one per request.

Why: every forged request once wrote a WARNING line. A flood of them is an attack on the disk,
the log pipeline and the operator's attention, and costs the worker time it owes to real texts.
Each refusal is counted in memory (per process); the first after a quiet spell is logged at
once, and the rest within INTERVAL go into the next line: "refused 2,113 webhook requests in
61 s: 2,100 bad signature on /sms, 13 too many form fields on /voice". Counts still waiting
when refusals stop go out with the next one; /metrics counts every refusal as it happens
(helpline_webhook_requests, outcome "rejected" or "client_error").
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Callable

from flask import current_app, request

log = logging.getLogger("bot.channels.twilio_auth")
INTERVAL = 60.0  # seconds between summary lines, at most one per process


class RefusalLog:
    """Counts refusals by reason and route; writes at most one WARNING line per `interval`."""

    def __init__(self, logger: logging.Logger = log, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.log, self.interval, self.clock = logger, interval, clock
        self._counts: Counter = Counter()
        self._since: float | None = None  # when the last line was written
        self._lock = threading.Lock()

    def refused(self, reason: str, route: str) -> None:
        with self._lock:
            self._counts[reason, route] += 1
            now = self.clock()
            if self._since is not None and now - self._since < self.interval:
                return
            counts, since, self._counts, self._since = self._counts, self._since, Counter(), now
        span = f" in {now - since:.0f} s" if since is not None else ""
        self.log.warning("refused %d webhook request(s)%s: %s", sum(counts.values()), span,
                         ", ".join(f"{n} {why} on {where}"
                                   for (why, where), n in counts.most_common()))


def refuse(reason: str) -> None:
    """Count this request's refusal in the app's RefusalLog (one per process)."""
    refusals = current_app.extensions.get("webhook_refusals")
    if refusals is None:
        refusals = current_app.extensions.setdefault("webhook_refusals", RefusalLog())
    rule = request.url_rule
    refusals.refused(reason, rule.rule if rule is not None else request.path[:40])
