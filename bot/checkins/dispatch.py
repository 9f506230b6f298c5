"""Hand due check-ins to workers in batches: one WATCH/MULTI and one send job per batch.

A morning with 100,000 people due must reach the workers in seconds. For each batch of
subjects the reads go in one round trip (after WATCH on their subscription hashes), the
decisions are made here with bot/checkins/rules.py's rules, and every write plus ONE RQ job for the
batch commit in one MULTI, so a crash leaves all of a batch or none of it. A STOP or other
change arriving meanwhile aborts the MULTI; the batch is read again, and if it keeps losing
races it is taken one person at a time. Each person keeps their own slot, lease and
exactly-once send (bot/outbound/delivery.py); the job finds them in the batch's set in Redis, so its
payload names nobody (bot/checkins/subscriptions.py: batch_add).
"""
from __future__ import annotations

import logging
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from bot.checkins.rules import Slot

log = logging.getLogger(__name__)
SEND_JOB = "bot.checkins.jobs.send_checkins"  # by name: the dispatcher never imports the sending code
SEND_QUEUE = "outbound"
BATCH_SIZE = 200                   # check-ins per send job (and per dispatch MULTI)
BUDGET = 40                        # seconds a send job starts new texts; the rest go on
LEASE = timedelta(minutes=30)      # longer than every retry plus the rate-limit wait
ABANDONED = timedelta(minutes=2)   # RQ heartbeats a running job every 30-90 s
SEND_TIMEOUT = 180                 # BUDGET + rate-limit wait + Twilio's 10 s timeout + a lookup
RESULT_TTL, FAILURE_TTL = 3600, 7 * 86400
TRIES = 3                          # MULTIs aborted by a concurrent change before going one by one
Write = Callable[[object, str], None]   # (pipe, batch job id): the writes of one decision
Decision = tuple[str, Write | tuple | None]  # label, and writes (or an entry for dispatched())


@dataclass(frozen=True)
class Row:
    """What the dispatcher read about one subject (marker only when recovering)."""

    subject: str
    sub: object
    due: float | None
    lease: float | None
    marker: str | None = None


def batch_size(rate: float) -> int:
    """Up to BATCH_SIZE, fewer at a slow send rate so one job fits its BUDGET."""
    return max(1, min(BATCH_SIZE, int(rate * BUDGET / 2)))


def take_due(rt, subjects: list[str], at: datetime) -> Counter:
    """Enqueue the check-ins of these due subjects, move each to its next slot, lease the slot."""
    return _in_batches(rt, subjects, at, _due_step, markers=False)


def recover(rt, subjects: list[str], at: datetime) -> Counter:
    """Leases that ran out: settled, still running, too late, or handed to a new job."""
    alive: dict[str, bool] = {}

    def step(rt, row: Row, at: datetime):
        return _recover_step(rt, row, at, alive)
    return _in_batches(rt, subjects, at, step, markers=True)


def _in_batches(rt, subjects, at, step, markers: bool) -> Counter:
    counts: Counter = Counter()
    size = batch_size(rt.settings.send_rate_per_second)
    for start in range(0, len(subjects), size):
        counts += _batch(rt, subjects[start:start + size], at, step, markers)
    return counts


def _batch(rt, subjects: list[str], at: datetime, step, markers: bool) -> Counter:
    for _ in range(TRIES):
        try:
            return _commit(rt, subjects, at, step, markers)
        except redis.WatchError:
            continue
    if len(subjects) == 1:
        return Counter(busy=1)  # still due: the next run takes it
    counts: Counter = Counter()
    for subject in subjects:  # one busy person must not hold up everyone else
        counts += _batch(rt, [subject], at, step, markers)
    return counts


def _commit(rt, subjects: list[str], at: datetime, step, markers: bool) -> Counter:
    """Decide every subject first (a bad one only counts as an error), then write in one MULTI."""
    counts: Counter = Counter()
    job_id, members, writes, entries = f"checkins-{uuid.uuid4().hex}", [], [], []
    with rt.redis.pipeline() as pipe:
        rt.subs.watch(pipe, subjects)
        for row in read(rt, subjects, markers):  # after WATCH: a change since aborts the MULTI
            label, write = _guarded(step, rt, row, at)
            counts[label] += 1
            if isinstance(write, tuple):
                entries.append(write)
            elif write is not None:
                writes.append(write)
            if label in ("enqueued", "recovered"):
                members.append(row.subject)
        pipe.multi()
        for write in writes:
            write(pipe, job_id)
        if entries:  # these are listed in the batch by dispatched() itself
            rt.subs.dispatched(pipe, job_id, (at + LEASE).timestamp(), entries)
        if members:
            listed = {entry[0] for entry in entries}
            enqueue_batch(rt, pipe, job_id, [s for s in members if s not in listed])
        pipe.execute()
    return counts


def read(rt, subjects: list[str], markers: bool = False) -> list[Row]:
    """Each subject's subscription and scores (and, when recovering, its slot's marker)."""
    rows = [Row(s, *found) for s, found in zip(subjects, rt.subs.read_many(subjects))]
    if not markers:
        return rows
    inflight = [(r.subject, r.sub.inflight) for r in rows if r.sub and r.sub.inflight]
    found = dict(zip([s for s, _ in inflight], rt.subs.markers(inflight)))
    return [Row(r.subject, r.sub, r.due, r.lease, found.get(r.subject)) for r in rows]


def owned(sub, job_id: str) -> bool:
    """The subscription still waits for this job to send its check-in in flight."""
    return sub is not None and sub.status == "active" and bool(sub.inflight) and sub.job == job_id


def _guarded(step, rt, row: Row, at: datetime) -> Decision:
    """One broken subscription must not stop everyone else's check-ins."""
    try:
        return step(rt, row, at)
    except (ValueError, KeyError) as exc:
        log.error("check-in subscription %s... skipped: %s", row.subject[:8], type(exc).__name__)
        return "error", None


def _due_step(rt, row: Row, at: datetime) -> Decision:
    subs, rules, at_ts, subject, sub = rt.subs, rt.rules, at.timestamp(), row.subject, row.sub
    if sub is None or not sub.live or sub.plan is None:
        return "gone", lambda pipe, job: subs.drop(pipe, subject)
    if row.due is None or row.due > at_ts:
        return "not_due", None
    kind = "checkin"
    if sub.status == "paused":
        if sub.paused_until > at_ts:  # resume at the first slot after the pause
            until = datetime.fromtimestamp(sub.paused_until, timezone.utc)
            slot = rules.resume_slot(sub.plan, until)
            due_at = rules.due(slot, random.random()).timestamp()
            return "paused", lambda pipe, job: subs.reschedule(pipe, subject, slot.key, due_at)
        kind = "resumed"
    slot = Slot.parse(sub.slot)
    nxt = rules.next_slot(sub.plan, slot, at)
    nxt_due = rules.due(nxt, random.random()).timestamp()
    if rules.late(row.due, at):
        return "late", lambda pipe, job: subs.reschedule(pipe, subject, nxt.key, nxt_due)
    return "enqueued", (subject, slot.key, row.due, kind, nxt.key, nxt_due)


def _recover_step(rt, row: Row, at: datetime, alive: dict) -> Decision:
    subs, subject, sub, lease_until = rt.subs, row.subject, row.sub, (at + LEASE).timestamp()
    if row.lease is None or row.lease > at.timestamp():
        return "leased", None
    clear = lambda pipe, job: subs.clear(pipe, subject)  # noqa: E731
    if sub is None or sub.status != "active" or not sub.inflight or (
            row.marker and not row.marker.startswith("pending:")):
        return "cleared", clear
    if sub.job not in alive:  # many subjects share one batch job: ask RQ once
        alive[sub.job] = job_alive(rt, sub.job, at)
    if alive[sub.job]:
        return "running", lambda pipe, job: subs.relet(pipe, subject, sub.job, lease_until)
    if rt.rules.late(sub.inflight_due, at):
        return "dropped", clear
    return "recovered", lambda pipe, job: subs.relet(pipe, subject, job, lease_until)


def job_alive(rt, job_id: str, at: datetime) -> bool:
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


def enqueue_batch(rt, pipe, job_id: str, subjects: list[str],
                  when: datetime | None = None) -> None:
    """One send job for its batch, inside `pipe`; `subjects` (leased to `job_id` already) are
    added to the batch (those of dispatched() are in it already)."""
    if subjects:
        rt.subs.batch_add(pipe, job_id, subjects)
    options = dict(job_id=job_id, job_timeout=SEND_TIMEOUT, result_ttl=RESULT_TTL,
                   failure_ttl=FAILURE_TTL, description="check-in sends", pipeline=pipe)
    queue = rt.queue(SEND_QUEUE)
    if when is None:
        queue.enqueue(SEND_JOB, job_id, **options)
    else:
        queue.enqueue_at(when, SEND_JOB, job_id, **options)


def requeue(rt, owner: str, subjects: list[str], when: datetime | None) -> list[str]:
    """Hand the check-ins `owner` still holds to a new batch job (at `when`, or now)."""
    lease_until = ((when or datetime.now(timezone.utc)) + LEASE).timestamp()
    while True:
        job_id = f"checkins-{uuid.uuid4().hex}"
        with rt.redis.pipeline() as pipe:
            try:
                rt.subs.watch(pipe, subjects)
                mine = [r.subject for r in read(rt, subjects) if owned(r.sub, owner)]
                pipe.multi()
                for subject in mine:
                    rt.subs.relet(pipe, subject, job_id, lease_until)
                if mine:
                    enqueue_batch(rt, pipe, job_id, mine, when)
                pipe.execute()
                return mine
            except redis.WatchError:
                continue
