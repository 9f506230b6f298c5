"""Erasure reaches the disk: after FORGET, Redis's append-only file is rewritten.

FORGET deletes keys from memory at once, but the append-only file still holds the writes that
made them (an encrypted number, a keyed hash) until Redis rewrites it, which by default waits
until the file has doubled and is at least 64 MB: weeks, on a quiet helpline. So an erasure
books a rewrite (BGREWRITEAOF) through RQ's scheduler: at most one an hour, every erasure in
between covered by the one booked. A backup taken before the rewrite still holds the data until
it is itself deleted (docs/privacy.md says how long).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import redis
from rq import Queue, get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import JobStatus

from bot.storage.keys import AOF_LAST_KEY, AOF_NEXT_KEY

log = logging.getLogger(__name__)
EVERY = 3600          # seconds: at most one rewrite an hour
QUEUE = "default"     # the dispatcher's queue (bot/checkins/jobs.py DISPATCH_QUEUE)
JOB = "bot.privacy.compaction.rewrite"  # by name: the web process never imports worker code


def book(connection: redis.Redis, now: float | None = None) -> float | None:
    """Book one rewrite unless one is booked already; it runs an hour after the last one at
    the earliest. Returns when it will run, or None when an earlier booking covers this."""
    now = time.time() if now is None else now
    last = float(connection.get(AOF_LAST_KEY) or 0)
    at = max(now, last + EVERY)
    # The guard outlives the booking by a margin, so a lost job cannot block the next for long.
    if not connection.set(AOF_NEXT_KEY, at, nx=True, ex=int(at - now) + EVERY):
        return None
    queue = Queue(QUEUE, connection=connection)
    job = queue.create_job(JOB, job_id=f"aof-rewrite-{int(at)}", timeout=300, result_ttl=EVERY,
                           failure_ttl=7 * 86400, status=JobStatus.SCHEDULED,
                           description="rewrite the append-only file after an erasure")
    try:
        queue.schedule_job(job, datetime.fromtimestamp(at, timezone.utc), unique=True)
    except DuplicateJobError:
        pass
    connection.expire(job.key, int(at - now) + EVERY)  # a job that never ran does not linger
    return at


def rewrite() -> str:
    """The RQ job: note the time, then ask Redis to rewrite its append-only file."""
    job = get_current_job()
    connection = job.connection if job else redis.Redis()
    now = time.time()
    connection.set(AOF_LAST_KEY, now, ex=2 * EVERY)
    connection.delete(AOF_NEXT_KEY)
    try:
        answer = connection.bgrewriteaof()
    except redis.ResponseError as exc:  # one in progress already covers the erasure
        log.warning("append-only file rewrite not started: %s", exc)
        return str(exc)
    log.info("append-only file rewrite started after an erasure")
    return str(answer)
