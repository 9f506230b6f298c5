"""Send one text exactly once (check-ins, reminders, check-on-me, "text me this" by phone), across retries, re-runs, worker crashes and Twilio timeouts.

Each slot has a marker in Redis (bot/checkins/subscriptions.py) that every attempt goes through:

    (none)             nobody has tried to send this slot
    pending:<t>:<d>    an attempt claimed the slot at unix time t for a body with digest d, and
                       is sending now, or died (SIGKILL) or timed out before it knew the answer
    sent:<sid>         Twilio accepted the text: it is never sent again
    skipped:... / failed:...   settled without a text

An attempt waits for the shared send rate, claims the slot (compare-and-set, so of two
attempts only one can claim it, and only while the subscription still wants this slot from
the job holding its lease: a STOP during the wait wins), sends, then writes sent:<sid>. The
claim and every marker write are refused once the person was erased after the work was
planned (FORGET's tombstone, bot/storage/tombstone.py; the attempt carries its epoch): a text
already at Twilio then goes out, and nothing about the person is written after it.
The crash windows:

- Died before claiming: nothing was sent; the next attempt sends.
- Died after claiming, or Twilio timed out (the text may or may not have been accepted): the
  next attempt finds "pending" and asks Twilio's Messages API for a text to this number with
  this body created since the claim. Found: it records that SID and does not send. Not found:
  it sends. Only a 4xx carrying one of Twilio's error codes (429 20429, 400 21610...) is a
  certain refusal, so only that releases the claim; a 5xx (Twilio's, or a gateway's HTML 502)
  and a network error may come after the message was created, so they keep "pending".

Attempts of one slot never overlap: a batch job (bot/checkins/jobs.py) sends many slots at once on a
few threads, but each slot once per run; retries reuse that job, a check-in handed on to
another job is handed on only after its own attempt ended, and the dispatcher re-sends a lease
only when its job is no longer alive (bot/checkins/dispatch.py). So "pending" seen by a new attempt
means an earlier one is dead, never busy.

Trade-offs, stated honestly: the lookup compares the exact body, so a Messaging Service that
rewrites bodies (Smart Encoding) would miss it and a crash at that moment could send twice. The
lookup lists the number's newest messages without a DateSent filter, because a text still
queued at Twilio has no DateSent yet. If the API cannot be asked (it is down), the attempt waits
for a retry rather than risk a double. The console sender (development) keeps no record across
processes, so there a crash-then-retry simply sends again.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol

import requests
from twilio.base.exceptions import TwilioException

from bot.conversation.content import segments
from bot.outbound.sender import SendResult, mask_number
from bot.storage.ratelimit import TokenBucket

log = logging.getLogger(__name__)


class Subscriptions(Protocol):
    """The send markers an attempt goes through: check-ins' (bot/checkins/subscriptions.py),
    reminders' Ledger, "text me this"'s Markers (bot/outbound/markers.py). A protocol, so this
    package imports no feature that uses it."""

    def marker(self, subject: str, slot: str) -> str | None: ...

    def claim(self, subject: str, slot: str, value: str, previous: str | None,
              owner: str | None = None) -> int: ...

    def release(self, subject: str, slot: str, value: str) -> None: ...

    def sent(self, subject: str, slot: str, sid: str) -> None: ...


class BatchSubscriptions(Subscriptions, Protocol):
    """deliver_all reads a batch's markers in one round trip (check-ins)."""

    def markers(self, pairs: list[tuple[str, str]]) -> list[str | None]: ...


LOOKBACK = 20                       # the number's newest messages checked after an ambiguity
CLOCK_SKEW = timedelta(minutes=2)   # our clock vs Twilio's date_created
SENT, DONE, RETRY, FAILED, SKIPPED = "sent", "done", "retry", "failed", "skipped"
LATER = "later"  # deliver_all's deadline passed before this attempt started: not tried


@dataclass(frozen=True)
class Attempt:
    """One try at one slot: who (keyed hash), which slot, the number (decrypted) and the text."""

    subject: str
    slot: str
    number: str
    body: str
    owner: str | None = None  # the job holding the lease; None: do not check the subscription
    epoch: str = ""  # FORGET's tombstone when the work was planned (bot/storage/tombstone.py)

    @property
    def digest(self) -> str:
        return digest(self.body)


def digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


class _Unknown:
    """Twilio could not be asked whether a text went out."""


UNKNOWN = _Unknown()
UNREAD = object()  # deliver() reads the marker itself


def find_sent(sender, number: str, marker: str) -> str | None | _Unknown:
    """The SID of a text to `number` with the marker's body digest, created since its claim."""
    client = getattr(sender, "client", None)
    if client is None:
        return None  # the console sender: nothing real was sent, nothing to find
    _, claimed, wanted = marker.split(":", 2)
    since = datetime.fromtimestamp(int(claimed), timezone.utc) - CLOCK_SKEW
    try:
        for message in client.messages.list(to=number, limit=LOOKBACK):
            created = message.date_created
            if created and created >= since and digest(message.body or "") == wanted:
                return message.sid
    except (TwilioException, requests.RequestException) as exc:
        log.warning("could not ask Twilio whether a text to %s went out: %s",
                    mask_number(number), type(exc).__name__)
        return UNKNOWN
    return None


def deliver(subs: Subscriptions, sender, bucket: TokenBucket, attempt: Attempt,
            clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
            current: str | None | object = UNREAD) -> tuple[str, SendResult | None]:
    """Send the attempt's text unless this slot already went out; returns (outcome, result).

    `current` is the slot's marker when the caller read it already (a batch reads them all at
    once); the claim after the wait for the send rate checks it is still the same.
    """
    if current is UNREAD:
        current = subs.marker(attempt.subject, attempt.slot)
    if current is not None and not current.startswith("pending:"):
        return DONE, None
    if current is not None:
        found = find_sent(sender, attempt.number, current)
        if found is UNKNOWN:
            return RETRY, None
        if found:
            log.info("check-in to %s had gone out before a crash or timeout: not resent",
                     mask_number(attempt.number))
            subs.sent(attempt.subject, attempt.slot, found, epoch=attempt.epoch)
            return DONE, None
    bucket.wait(_cost(attempt.body), sleep=sleep)
    claim = f"pending:{int(clock())}:{attempt.digest}"
    claimed = subs.claim(attempt.subject, attempt.slot, claim, current, attempt.owner,
                         epoch=attempt.epoch)
    if claimed < 1:
        return (SKIPPED if claimed < 0 else RETRY), None
    result = sender.send(attempt.number, attempt.body)
    if result.ok:  # refused, and nothing written, if the person was erased meanwhile
        subs.sent(attempt.subject, attempt.slot, result.sid, epoch=attempt.epoch)
        return SENT, result
    if result.definite:  # Twilio certainly created nothing: the next attempt need not look
        subs.release(attempt.subject, attempt.slot, claim)
    return (FAILED if result.permanent else RETRY), result


def deliver_all(subs: BatchSubscriptions, sender, bucket: TokenBucket, attempts: list[Attempt],
                threads: int = 1, deadline: float | None = None,
                clock: Callable[[], float] = time.time) -> list[tuple[str, SendResult | None]]:
    """deliver() each attempt, `threads` at a time (sending is waiting on Twilio); in order.

    The markers are read in one round trip; the token bucket still spaces every text, across
    threads and workers. An attempt not started by `deadline` comes back as LATER.
    """
    markers = subs.markers([(a.subject, a.slot) for a in attempts])

    def one(pair: tuple[Attempt, str | None]) -> tuple[str, SendResult | None]:
        attempt, current = pair
        if deadline is not None and clock() > deadline:
            return LATER, None
        try:
            return deliver(subs, sender, bucket, attempt, clock=clock, current=current)
        except Exception as exc:  # noqa: BLE001 - one attempt's surprise must not lose the rest
            log.error("check-in to %s failed unexpectedly: %s", mask_number(attempt.number),
                      type(exc).__name__)
            return RETRY, None

    return _on_threads(one, list(zip(attempts, markers)), threads)


def _on_threads(fn: Callable, items: list, threads: int) -> list:
    """fn(item) for each item on up to `threads` threads, results in order; each thread takes
    the next item when done (no future per item: the caller wakes once, not once per text)."""
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    results: list = [None] * len(items)
    todo, lock = iter(enumerate(items)), threading.Lock()

    def work() -> None:
        while True:
            with lock:
                nxt = next(todo, None)
            if nxt is None:
                return
            results[nxt[0]] = fn(nxt[1])

    pool = [threading.Thread(target=work, name=f"checkin-send-{n}", daemon=True)
            for n in range(min(threads, len(items)))]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


@functools.lru_cache(maxsize=1024)
def _cost(body: str) -> int:
    """Segments of a text (what the send rate counts); check-in bodies repeat, so counted once."""
    return segments(body).count
