"""The inbox's promises, kept by RQ's scheduler (docs/inbox.md has the settings):

- unclaimed: N minutes (INBOX_UNCLAIMED_MINUTES) after a ticket is due (opened, or staffed
  hours began for a message left outside them) and still unclaimed, the person is told that no
  one is free yet, with 988 and the menu; the ticket stays in the queue;
- silent: claimed, and the person's message (or the claim) unanswered for M minutes
  (INBOX_SILENT_MINUTES), the ticket goes back to the queue and admins are alerted;
- idle: an open ticket with no message either way for INBOX_IDLE_HOURS closes itself;
- wake: a snoozed ticket comes back to the top of the list.

Each job names its ticket and the moment it was set for (its anchor). When it runs it acts only
if the ticket is still as it was then (the same unanswered message, the same last activity), so
a job made stale by a reply or a message does nothing, and no job reads the wall clock: time
moves with the scheduler, which is what the tests drive. Job ids are made of the ticket number,
kind and anchor, so booking the same timer twice books it once.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

from rq import Queue
from rq.job import JobStatus

from bot.checkins.dispatch import FAILURE_TTL, RESULT_TTL, SEND_QUEUE

JOBS = "bot.inbox.jobs"
KINDS = ("unclaimed", "silent", "idle", "wake", "send")
TIMEOUT = 120
SLACK = 86400  # a booked timer's job is kept this long past its time, then expires unrun


def job_id(kind: str, ticket: int, anchor: float | int | None = None) -> str:
    return f"inbox-{kind}-{ticket}" + (f"-{int(anchor)}" if anchor is not None else "")


def book(pipe, queue: Queue, kind: str, ticket: int, at: float, anchor: float | None = None,
         args: tuple = ()) -> str:
    """A scheduled job written into `pipe` (the step's own transaction, or any pipeline): the
    job and its registry entry together, as bot/reminders/ledger.py does."""
    jid = job_id(kind, ticket, anchor)
    call_args = (ticket,) + ((int(anchor),) if anchor is not None else ()) + args
    job = queue.create_job(f"{JOBS}.{kind}", args=call_args, job_id=jid,
                           status=JobStatus.SCHEDULED, timeout=TIMEOUT, result_ttl=RESULT_TTL,
                           failure_ttl=FAILURE_TTL, description=f"inbox {kind}")
    pipe.sadd(queue.redis_queues_keys, queue.key)
    pipe.delete(job.key)
    job.save(pipeline=pipe)
    # A waiting job keeps no expiry in RQ; a timer is worthless a day after its time
    pipe.expire(job.key, max(0, int(at - time.time())) + SLACK)
    pipe.zadd(queue.scheduled_job_registry.key, {jid: int(at)})
    return jid


def book_now(client, kind: str, ticket: int, at: float, anchor: float | None = None) -> str:
    """book() in a pipeline of its own (console actions, the worker)."""
    pipe = client.pipeline()
    jid = book(pipe, Queue(SEND_QUEUE, connection=client), kind, ticket, at, anchor)
    pipe.execute()
    return jid


def cancel_all(client, tickets: list[int]) -> int:
    """FORGET: drop every timer of these tickets not yet run (a running one finds nothing)."""
    queue = Queue(SEND_QUEUE, connection=client)
    registry = queue.scheduled_job_registry
    names = {f"inbox-{kind}-{t}" for t in tickets for kind in KINDS}

    def theirs(jid: str) -> bool:
        return jid in names or jid.rpartition("-")[0] in names

    doomed = [j for j in registry.get_job_ids() + queue.get_job_ids() if theirs(j)]
    if not doomed:
        return 0
    pipe = client.pipeline()
    for jid in doomed:
        pipe.zrem(registry.key, jid)
        pipe.lrem(queue.key, 0, jid)
        pipe.delete(f"rq:job:{jid}")
    pipe.execute()
    return len(doomed)


def when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)
