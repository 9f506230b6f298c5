"""RQ jobs for check-ins: the dispatcher (every minute) and batch jobs that send them.

The dispatcher (bot/checkins/dispatch.py) takes due subscriptions a batch at a time in one Redis
transaction: it enqueues ONE send job for the batch, moves each subscription to its next slot
(with a random spread inside the window) and leases each slot in flight to that job, all in the
same MULTI, so a crash leaves either all of it or none. A lease whose job died (a worker
SIGKILLed mid-batch) is handed to a new job on a later run; one that is too late is dropped.
A send job texts its batch on a few threads (each text mostly waits on Twilio) through
bot/outbound/delivery.py, which makes each slot one text, and the shared token bucket spaces them all.

Queues: "default" runs the dispatcher, "outbound" the sends (others may send there too). Job
payloads hold only the batch's id; who is in it is a set in Redis that erasure edits, and the
number is decrypted at send time.
"""
from __future__ import annotations

import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import JobStatus

from bot.ops import metrics
from bot.checkins.host import compose, note_keys
from bot.checkins.rules import Rules
from bot.config import Settings
from bot.outbound.delivery import DONE, FAILED, LATER, RETRY, SENT, SKIPPED, Attempt, deliver_all
from bot.checkins.dispatch import BUDGET, SEND_QUEUE, owned, recover, requeue, take_due
from bot.checkins.dispatch import LEASE, job_alive  # noqa: F401 - still importable from here
from bot.outbound.sender import ConsoleSender, build_sender, mask_number
from bot.storage.ratelimit import TokenBucket
from bot.storage.keys import OUTBOUND_RATE_KEY
from bot.checkins.subscriptions import PERSON_CODES, Subscriptions

log = logging.getLogger(__name__)
DISPATCH_QUEUE = "default"
QUEUES = (DISPATCH_QUEUE, SEND_QUEUE)  # the dispatcher first: it must not wait behind a batch
BATCH = 1000                       # due subjects read per round (then split into send jobs)
SEND_THREADS = 8                   # texts one job has at Twilio at once (each waits ~0.2 s)
PREPAY = 0.01                      # seconds of the send rate booked at once (from 200/s up)
BACKOFF = [15, 60, 300, 900]       # seconds between tries after 429, 5xx, network errors
OUTCOME_NAMES = {SENT: "sent", DONE: "already_sent", RETRY: "retried", SKIPPED: "skipped"}


@dataclass
class Runtime:
    """What jobs need, built once per worker process (forked job processes inherit it)."""

    settings: Settings
    helpline: object
    subs: Subscriptions
    rules: Rules
    bucket: TokenBucket
    pid: int = field(default_factory=os.getpid)
    _sender: object = None
    _queues: dict = field(default_factory=dict)

    @classmethod
    def of(cls, helpline) -> "Runtime":
        """The runtime of a built helpline: worker.py builds one (bot.helpline.build) before it
        forks; the web app's CLI and the tests pass theirs."""
        host, settings = helpline.extras["checkins"], helpline.settings
        bucket = TokenBucket(helpline.redis, OUTBOUND_RATE_KEY, settings.send_rate_per_second,
                             prepay=PREPAY)
        return cls(settings, helpline, host.subs, host.rules, bucket)

    @property
    def redis(self):
        return self.helpline.redis

    @property
    def sender(self):
        """Made in the process that sends, so HTTP connections are never shared across a fork."""
        if self._sender is None or self.pid != os.getpid():
            self._sender = build_sender(self.settings, pool_size=SEND_THREADS)
            self.pid = os.getpid()
        return self._sender

    def warm(self) -> "Runtime":
        """Before a worker forks: build a sender (the Twilio client imports ~900 modules when
        first used) and compile the check-in templates, or every job process does it again.
        With OUTBOUND_TEXTS=off there is no sender to build (production has none)."""
        if not self.settings.sends_texts:
            return self
        _ = self.sender
        content = self.helpline.content
        for locale in content.locales:
            notes, tips = note_keys(content, locale)
            for key in (*notes, *tips, "checkin.back"):
                content.template(key, locale)
        return self

    @property
    def threads(self) -> int:
        """Send threads per job: at a slow send rate one is enough (the bucket is the limit)."""
        return min(SEND_THREADS, max(1, int(self.settings.send_rate_per_second)))

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.redis)
        return self._queues[name]


_runtime: Runtime | None = None


def runtime() -> Runtime:
    """The one `use()` set. A job process inherits it from worker.py, which builds it from the
    composition root (this module does not import bot.helpline, which imports check-ins)."""
    if _runtime is None:
        raise RuntimeError("no job runtime: run jobs with `python worker.py`, which builds it "
                           "(or call bot.checkins.jobs.use(Runtime.of(helpline)) first)")
    return _runtime


def use(rt: Runtime | None) -> None:
    """Set the runtime (worker start-up warms it before forking; tests pass their own)."""
    global _runtime
    _runtime = rt


def follower(build):
    """A worker's view of the content and sites versions (bot/ops/reload.py), looked at before
    each job in the parent, so the job processes it forks inherit a reloaded helpline. `build`:
    the composition root's, passed in by worker.py (check-ins sit below it)."""
    from bot.ops.reload import Follower

    def swap() -> bool:
        rt = runtime()
        fresh = Runtime.of(build(rt.settings, rt.redis))
        use(replace(fresh, _sender=rt._sender, pid=rt.pid, _queues=rt._queues).warm())
        return True

    return Follower(lambda: runtime().helpline, swap).start()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- the dispatcher ------------------------------------------------------------------------
def tick() -> dict:
    """Every minute: book the next run first (so a crash cannot break the chain), then dispatch."""
    rt = runtime()
    now = utcnow()
    schedule_tick(rt.queue(DISPATCH_QUEUE), now)
    return dict(dispatch(rt, now))


def schedule_tick(queue: Queue, now: datetime) -> None:
    """One dispatcher run per minute, whatever the number of workers (the job id is the minute,
    written as a date so the logs' number masking leaves it readable)."""
    at = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    job = queue.create_job(tick, job_id=f"checkins-tick-{at:%Y-%m-%dT%H%M}", timeout=300,
                           result_ttl=600, failure_ttl=86400, status=JobStatus.SCHEDULED,
                           description="check-in dispatcher")
    try:
        queue.schedule_job(job, at, unique=True)
    except DuplicateJobError:
        pass


def dispatch(rt: Runtime, at: datetime) -> Counter:
    """Enqueue every check-in due at `at` and re-send dead leases; safe to run twice."""
    counts: Counter = Counter()
    if not rt.settings.sends_texts:  # OUTBOUND_TEXTS=off: nothing is sent, nothing piles up
        rt.helpline.store.mark_dispatched(utcnow())
        return Counter(texts_off=1)
    if rt.rules.quiet(at):
        counts["quiet_hours"] += 1
    else:
        seen: set[str] = set()
        while True:
            batch = [s for s in rt.subs.due_subjects(at.timestamp(), BATCH) if s not in seen]
            if not batch:
                break
            seen.update(batch)
            counts += take_due(rt, batch, at)
    counts += recover(rt, rt.subs.expired_leases(at.timestamp(), BATCH), at)
    rt.helpline.store.mark_dispatched(utcnow())
    if counts.get("enqueued") or counts.get("recovered"):
        log.info("check-in dispatch at %s: %s", at.isoformat(), dict(counts))
    return counts


# --- the sends -----------------------------------------------------------------------------
def send_checkins(batch: str, subjects: list[str] | None = None):
    """Text each check-in of one batch once; returns RQ's Retry when some met 429, 5xx or a
    network error (the rerun sends only those: the others have left the batch)."""
    rt = runtime()
    members = rt.subs.batch_members(batch) if subjects is None else subjects
    mine = [sub for sub in rt.subs.load_many(members) if owned(sub, batch)]
    now = utcnow()
    if mine and rt.rules.quiet(now):
        outcome = _defer(rt, batch, mine, now)
    else:
        outcome = _send(rt, batch, mine, now)
    retry = outcome if isinstance(outcome, set) else set()
    if subjects is None:
        rt.subs.batch_done(batch, [s for s in members if s not in retry])
    if retry:
        return Retry(max=len(BACKOFF), interval=BACKOFF)
    return outcome


def send_checkin(subject: str, slot: str, kind: str = "checkin"):
    """A job queued before batching (one check-in, named in its payload): a batch of one."""
    job = get_current_job()
    return send_checkins(job.id if job else "", [subject])


def _send(rt: Runtime, batch: str, mine: list, now: datetime) -> dict | set:
    """The batch's texts; returns the counts, or the subjects to retry."""
    content = _Rendered(rt.helpline.content)
    attempts = [a for a in (_attempt(rt, content, sub, batch) for sub in mine) if a is not None]
    results = deliver_all(rt.subs, rt.sender, rt.bucket, attempts, rt.threads,
                          deadline=time.time() + BUDGET)
    sends, stats = [], Counter()
    for attempt, (outcome, result) in zip(attempts, results):
        if outcome != LATER:
            _after_send(rt, attempt, outcome, result, sends, stats)
    _tally(rt, sends, stats, now)
    later = [a.subject for a, (outcome, _) in zip(attempts, results) if outcome == LATER]
    if later:  # a slow send rate: the rest go on in a new job, so no job runs for long
        requeue(rt, batch, later, None)
    retry = {a.subject for a, (outcome, _) in zip(attempts, results) if outcome == RETRY}
    return retry or dict(stats)


def _attempt(rt: Runtime, content, sub, batch: str) -> Attempt | None:
    number = rt.helpline.vault.decrypt(sub.number)
    if not number:
        log.error("check-in dropped: the number does not decrypt (was HELPLINE_SECRET changed?)")
        rt.subs.settle(sub.subject, sub.inflight, "failed:undecryptable", sub.epoch)
        return None
    body = compose(content, sub.subject, sub.count, sub.kind, sub.locale)
    return Attempt(sub.subject, sub.inflight, number, body, owner=batch, epoch=sub.epoch)


class _Rendered:
    """The content as compose() reads it, each entry rendered once per batch: check-in notes
    and tips name nobody, and a batch of 200 uses a handful of them."""

    def __init__(self, content):
        self._content, self._keys, self._texts = content, {}, {}

    def keys(self, locale: str | None = None) -> list[str]:
        """The check-in keys only (compose() picks its notes and tips among them), sorted."""
        if locale not in self._keys:
            self._keys[locale] = sorted(k for k in self._content.keys(locale)
                                        if k.startswith("checkin."))
        return self._keys[locale]

    def render(self, key: str, locale: str) -> str:
        if (key, locale) not in self._texts:
            self._texts[key, locale] = self._content.render(key, locale)
        return self._texts[key, locale]


def _after_send(rt: Runtime, attempt: Attempt, outcome, result, sends: list, stats: Counter):
    if outcome == SENT and isinstance(rt.sender, ConsoleSender):
        rt.subs.outbox_push(attempt.subject, attempt.body, attempt.epoch)
    sends.append(result if result is not None else "skipped")
    stats[OUTCOME_NAMES.get(outcome, "failed")] += 1
    if outcome == FAILED:
        code = result.error_code if result else None
        if code in PERSON_CODES:
            log.warning("check-ins to %s stopped: Twilio error %s",
                        mask_number(attempt.number), code)
            rt.subs.deactivate(attempt.subject, f"error {code}")
        else:
            log.error("check-in to %s refused: %s", mask_number(attempt.number),
                      result and result.detail)
        rt.subs.settle(attempt.subject, attempt.slot, f"failed:{code}", attempt.epoch)


def _tally(rt: Runtime, sends: list, stats: Counter, now: datetime) -> None:
    """The batch's counts in a couple of round trips instead of two per text."""
    pipe = rt.redis.pipeline(transaction=False)
    metrics.record_sends(pipe, sends)
    pipe.execute()
    for name, n in stats.items():
        rt.subs.count(name, now, n)


def _defer(rt: Runtime, batch: str, mine: list, now: datetime) -> dict:
    """Quiet hours began while the check-ins waited: send them when they end, not now."""
    when = rt.rules.next_allowed(now) + rt.rules.spread * random.random() / 2
    moved = requeue(rt, batch, [sub.subject for sub in mine], when)
    if moved:
        rt.subs.count("deferred_quiet_hours", now, len(moved))
    return {"deferred": len(moved)}
