"""RQ jobs for check-ins: the dispatcher (every minute) and one send per due check-in.

The dispatcher takes each due subscription in one Redis transaction: it enqueues the send job,
moves the subscription to its next slot (with a random spread inside the window) and leases
the slot in flight, all in the same MULTI, so a crash leaves either all of it or none. A lease
whose job died (a worker SIGKILLed mid-batch) is handed to a new job on a later run; one that
is too late is dropped. Sends go through bot/delivery.py, which makes each slot one text.

Queues: "default" runs the dispatcher, "outbound" the sends (others may send there too). Job
payloads hold the keyed hash and the slot, never a number; the number is decrypted at send time.
"""
from __future__ import annotations

import logging
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from bot import metrics
from bot.checkin_host import compose
from bot.checkins import Rules, Slot
from bot.config import Settings, load_settings
from bot.delivery import DONE, FAILED, RETRY, SENT, SKIPPED, Attempt, deliver
from bot.helpline import build
from bot.outbound import ConsoleSender, build_sender, mask_number
from bot.ratelimit import TokenBucket
from bot.store import OUTBOUND_RATE_KEY
from bot.subscriptions import PERSON_CODES, Subscriptions

log = logging.getLogger(__name__)
DISPATCH_QUEUE, SEND_QUEUE = "default", "outbound"
QUEUES = (DISPATCH_QUEUE, SEND_QUEUE)  # the dispatcher first: it must not wait behind a batch
LEASE = timedelta(minutes=30)      # longer than every retry below plus the rate-limit wait
ABANDONED = timedelta(minutes=2)   # RQ heartbeats a running job every 30-90 s
BATCH = 500
SEND_TIMEOUT = 180                 # rate-limit wait + Twilio's 10 s timeout + a lookup
BACKOFF = [15, 60, 300, 900]       # seconds between tries after 429, 5xx, network errors
RESULT_TTL, FAILURE_TTL = 3600, 7 * 86400


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

    @classmethod
    def build(cls, settings: Settings | None = None) -> "Runtime":
        return cls.of(build(settings or load_settings()))

    @classmethod
    def of(cls, helpline) -> "Runtime":
        """The runtime of an already built helpline (the web app's CLI, tests)."""
        host, settings = helpline.extras["checkins"], helpline.settings
        bucket = TokenBucket(helpline.redis, OUTBOUND_RATE_KEY, settings.send_rate_per_second)
        return cls(settings, helpline, host.subs, host.rules, bucket)

    @property
    def redis(self):
        return self.helpline.redis

    @property
    def sender(self):
        """Made in the process that sends, so HTTP connections are never shared across a fork."""
        if self._sender is None or self.pid != os.getpid():
            self._sender, self.pid = build_sender(self.settings), os.getpid()
        return self._sender

    def queue(self, name: str) -> Queue:
        return Queue(name, connection=self.redis)


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build()
    return _runtime


def use(rt: Runtime | None) -> None:
    """Set the runtime (worker start-up warms it before forking; tests pass their own)."""
    global _runtime
    _runtime = rt


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
    """One dispatcher run per minute, whatever the number of workers (the job id is the minute)."""
    at = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    job = queue.create_job(tick, job_id=f"checkins-tick-{at:%Y%m%d%H%M}", timeout=300,
                           result_ttl=600, failure_ttl=86400, status=JobStatus.SCHEDULED,
                           description="check-in dispatcher")
    try:
        queue.schedule_job(job, at, unique=True)
    except DuplicateJobError:
        pass


def dispatch(rt: Runtime, at: datetime) -> Counter:
    """Enqueue every check-in due at `at` and re-send dead leases; safe to run twice."""
    counts: Counter = Counter()
    if rt.rules.quiet(at):
        counts["quiet_hours"] += 1
    else:
        seen: set[str] = set()
        while True:
            batch = [s for s in rt.subs.due_subjects(at.timestamp(), BATCH) if s not in seen]
            if not batch:
                break
            for subject in batch:
                seen.add(subject)
                counts[_guarded(_take_due, rt, subject, at)] += 1
    for subject in rt.subs.expired_leases(at.timestamp(), BATCH):
        counts[_guarded(_recover, rt, subject, at)] += 1
    rt.helpline.store.mark_dispatched(utcnow())
    if counts.get("enqueued") or counts.get("recovered"):
        log.info("check-in dispatch at %s: %s", at.isoformat(), dict(counts))
    return counts


def _guarded(step, rt: Runtime, subject: str, at: datetime) -> str:
    """One broken subscription must not stop everyone else's check-ins."""
    try:
        return step(rt, subject, at)
    except (ValueError, KeyError) as exc:
        log.error("check-in subscription %s... skipped: %s", subject[:8], type(exc).__name__)
        return "error"


def _take_due(rt: Runtime, subject: str, at: datetime) -> str:
    subs, rules, at_ts = rt.subs, rt.rules, at.timestamp()

    def work(pipe, sub, due, lease):
        if sub is None or not sub.live or sub.plan is None:
            pipe.multi()
            subs.drop(pipe, subject)
            return "gone"
        if due is None or due > at_ts:
            pipe.multi()
            return "not_due"
        kind = "checkin"
        if sub.status == "paused":
            if sub.paused_until > at_ts:  # resume at the first slot after the pause
                until = datetime.fromtimestamp(sub.paused_until, timezone.utc)
                slot = rules.resume_slot(sub.plan, until)
                pipe.multi()
                due_at = rules.due(slot, random.random()).timestamp()
                subs.reschedule(pipe, subject, slot.key, due_at)
                return "paused"
            kind = "resumed"
        slot = Slot.parse(sub.slot)
        nxt = rules.next_slot(sub.plan, slot, at)
        nxt_due = rules.due(nxt, random.random()).timestamp()
        pipe.multi()
        if rules.late(due, at):
            subs.reschedule(pipe, subject, nxt.key, nxt_due)
            return "late"
        job_id = f"checkin-{subject}-{slot.key}"
        subs.dispatched(pipe, subject, slot.key, due, kind, nxt.key, nxt_due, job_id,
                        (at + LEASE).timestamp())
        _enqueue_send(rt, pipe, subject, slot.key, kind, job_id)
        return "enqueued"

    return subs.transact(subject, work)


def _recover(rt: Runtime, subject: str, at: datetime) -> str:
    """A lease ran out: settled, still running, too late, or given to a new job."""
    subs, at_ts = rt.subs, at.timestamp()

    def work(pipe, sub, due, lease):
        if lease is None or lease > at_ts:
            pipe.multi()
            return "leased"
        marker = subs.marker(subject, sub.inflight) if sub and sub.inflight else None
        if sub is None or sub.status != "active" or not sub.inflight or (
                marker and not marker.startswith("pending:")):
            pipe.multi()
            subs.clear(pipe, subject)
            return "cleared"
        if job_alive(rt, sub.job, at):
            pipe.multi()
            subs.relet(pipe, subject, sub.job, (at + LEASE).timestamp())
            return "running"
        if rt.rules.late(sub.inflight_due, at):
            pipe.multi()
            subs.clear(pipe, subject)
            return "dropped"
        job_id = f"checkin-{subject}-{sub.inflight}-r{int(at_ts)}"
        pipe.multi()
        subs.relet(pipe, subject, job_id, (at + LEASE).timestamp())
        _enqueue_send(rt, pipe, subject, sub.inflight, sub.kind, job_id)
        return "recovered"

    return subs.transact(subject, work)


def job_alive(rt: Runtime, job_id: str, at: datetime) -> bool:
    """Waiting or scheduled, or running with a heartbeat younger than ABANDONED at `at`."""
    try:
        job = Job.fetch(job_id, connection=rt.redis) if job_id else None
    except NoSuchJobError:
        return False
    if job is None:
        return False
    status = job.get_status(refresh=False)
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    beat = job.last_heartbeat or job.started_at
    if status != JobStatus.STARTED or beat is None:
        return False
    beat = beat if beat.tzinfo else beat.replace(tzinfo=timezone.utc)
    return at - beat < ABANDONED


def _enqueue_send(rt: Runtime, pipe, subject: str, slot: str, kind: str, job_id: str,
                  when: datetime | None = None) -> None:
    options = dict(job_id=job_id, job_timeout=SEND_TIMEOUT, result_ttl=RESULT_TTL,
                   failure_ttl=FAILURE_TTL, description="check-in send", pipeline=pipe)
    queue = rt.queue(SEND_QUEUE)
    if when is None:
        queue.enqueue(send_checkin, subject, slot, kind, **options)
    else:
        queue.enqueue_at(when, send_checkin, subject, slot, kind, **options)


# --- one send ------------------------------------------------------------------------------
def send_checkin(subject: str, slot: str, kind: str = "checkin"):
    """Text one due check-in, once; returns RQ's Retry after 429, 5xx and network errors."""
    rt = runtime()
    sub = rt.subs.load(subject)
    if not _wanted(sub, slot):
        return "skipped"  # stopped, paused or moved on since it was dispatched
    now = utcnow()
    if rt.rules.quiet(now):
        return _defer(rt, subject, slot, kind, now)
    number = rt.helpline.vault.decrypt(sub.number)
    if not number:
        log.error("check-in dropped: the number does not decrypt (was HELPLINE_SECRET changed?)")
        rt.subs.settle(subject, slot, "failed:undecryptable")
        return "failed"
    body = compose(rt.helpline.content, subject, sub.count, kind, sub.locale)
    attempt = Attempt(subject, slot, number, body)
    outcome, result = deliver(rt.subs, rt.sender, rt.bucket, attempt,
                              wanted=lambda: _wanted(rt.subs.load(subject), slot))
    return _after_send(rt, subject, slot, number, body, outcome, result, now)


def _wanted(sub, slot: str) -> bool:
    return sub is not None and sub.status == "active" and sub.inflight == slot


def _after_send(rt: Runtime, subject, slot, number, body, outcome, result, now):
    if outcome == SENT and isinstance(rt.sender, ConsoleSender):
        rt.subs.outbox_push(subject, body)
    metrics.record_send(rt.redis, result if result is not None else "skipped")
    names = {SENT: "sent", DONE: "already_sent", RETRY: "retried", SKIPPED: "skipped"}
    rt.subs.count(names.get(outcome, "failed"), now)
    if outcome == RETRY:
        return Retry(max=len(BACKOFF), interval=BACKOFF)
    if outcome == FAILED:
        code = result.error_code if result else None
        if code in PERSON_CODES:
            log.warning("check-ins to %s stopped: Twilio error %s", mask_number(number), code)
            rt.subs.deactivate(subject, f"error {code}")
        else:
            log.error("check-in to %s refused: %s", mask_number(number), result and result.detail)
        rt.subs.settle(subject, slot, f"failed:{code}")
    return outcome


def _defer(rt: Runtime, subject: str, slot: str, kind: str, now: datetime) -> str:
    """Quiet hours began while the check-in waited: send it when they end, not now."""
    when = rt.rules.next_allowed(now) + rt.rules.spread * random.random() / 2
    job_id = f"checkin-{subject}-{slot}-q{int(when.timestamp())}"
    pipe = rt.redis.pipeline()
    rt.subs.relet(pipe, subject, job_id, (when + LEASE).timestamp())
    _enqueue_send(rt, pipe, subject, slot, kind, job_id, when=when)
    pipe.execute()
    rt.subs.count("deferred_quiet_hours", now)
    return "deferred"
