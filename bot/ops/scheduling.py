"""RQ's scheduler, made to resume after any stop, and told truthfully by /healthz.

How RQ 2.x does it (rq/scheduler.py): a worker started with_scheduler forks a scheduler process
that takes one lock per queue, `rq:scheduler-lock:<queue>` = its name, with a TTL of
interval + 60 s (61 s), refreshed on every heartbeat (each second), and moves due jobs from the
scheduled registry to the queue. A worker whose scheduler did not get a lock tries again only in
its maintenance tasks, every 10 minutes by default. So after a kill (Ctrl-C racing Valkey's
stop, kill -9, an OOM kill) the dead scheduler's lock outlived it by up to a minute, the new
worker tried once at start, failed, and waited ten minutes: no check-in dispatch, no reminder.
And /healthz called the scheduler alive because the lock key existed.

What this module adds:
- `lock_state()`: a lock is live only while its owner's scheduler record (rq:scheduler:<name>)
  has a heartbeat less than STALE_AFTER seconds old and, on this host, its process exists.
- `HelplineWorker`: before each attempt to take the locks it removes stale ones
  (compare-and-delete: a live owner's lock is never touched), and it retries every
  MAINTENANCE_SECONDS instead of every 10 minutes.
- `HelplineScheduler`: the scheduler process asks Linux to SIGTERM it when its worker dies
  (PR_SET_PDEATHSIG), so a kill -9 of the worker does not leave an orphan scheduler behind; its
  SIGTERM handler releases the locks.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
from datetime import datetime, timezone

from redis import Redis
from rq import Worker
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

from rq.utils import utcparse

log = logging.getLogger(__name__)
STALE_AFTER = 30          # seconds without a heartbeat (RQ's scheduler beats every second)
MAINTENANCE_SECONDS = 15  # how often a worker without the lock tries again (RQ: 600)
PR_SET_PDEATHSIG = 1
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0"""


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _process_exists(pid: int) -> bool:
    """A running process (a zombie, killed and not yet reaped, is not one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def lock_state(connection: Redis, queue: str, now: datetime | None = None) -> dict:
    """{"owner": name or None, "live": bool, "age": seconds since its heartbeat or None}."""
    owner = connection.get(RQScheduler.get_locking_key(queue))
    if owner is None:
        return {"owner": None, "live": False, "age": None}
    owner = _text(owner)
    record = {_text(k): _text(v) for k, v in
              connection.hgetall(SCHEDULER_KEY_TEMPLATE % owner).items()}
    beat = record.get("last_heartbeat")
    if not beat:
        return {"owner": owner, "live": False, "age": None}
    now = now or datetime.now(timezone.utc)
    age = (now - utcparse(beat).replace(tzinfo=timezone.utc)).total_seconds()
    live = age < STALE_AFTER
    if live and record.get("hostname") == socket.gethostname() and record.get("pid", "").isdigit():
        live = _process_exists(int(record["pid"]))  # same machine: a dead process is dead now
    return {"owner": owner, "live": live, "age": round(age, 1)}


def clear_stale_locks(connection: Redis, queues: list[str]) -> list[str]:
    """Delete the scheduler locks whose owner is gone; returns the queues freed."""
    freed = []
    for queue in queues:
        state = lock_state(connection, queue)
        if state["owner"] and not state["live"]:
            key = RQScheduler.get_locking_key(queue)
            if connection.eval(_DELETE_IF, 1, key, state["owner"]):
                log.warning("removed the scheduler lock of %s left by a stopped scheduler "
                            "(last heartbeat %s s ago)", queue, state["age"])
                freed.append(queue)
    return freed


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when its parent (the worker) dies, however it died."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # libc, already loaded
    except (OSError, AttributeError):
        log.info("cannot ask to be stopped with the worker on this system")


class HelplineScheduler(RQScheduler):
    """RQ's scheduler process, which does not outlive its worker."""

    def work(self):
        parent = os.getppid()
        _die_with_parent()
        if os.getppid() != parent:  # the worker died before the request took effect
            return
        super().work()


class HelplineWorker(Worker):
    """RQ's worker whose scheduler takes over stale locks and retries within seconds, and which
    follows content reloads and site changes before each job when worker.py gives it
    `make_follower` (bot/checkins/jobs.py's follower: ops sits below the job runtime)."""

    make_follower = None  # () -> bot.ops.reload.Follower, set by worker.py

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)
        self._follower = None

    def execute_job(self, job, queue):
        """Before forking the job: follow content reloads and site changes (bot/ops/reload.py)."""
        try:
            if self._follower is None and self.make_follower is not None:
                self._follower = type(self).make_follower()
            if self._follower is not None:
                self._follower.maybe()
        except Exception as exc:  # following edits must never stop a job
            self.log.warning("could not follow content or site changes: %s", type(exc).__name__)
        return super().execute_job(job, queue)

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=None,
                         log_format=None):
        """RQ's own start-up (rq/worker/base.py), with stale locks cleared and our scheduler."""
        clear_stale_locks(self.connection, self.queue_names())
        extra = {k: v for k, v in (("date_format", date_format), ("log_format", log_format)) if v}
        self.scheduler = HelplineScheduler(
            self.queues, connection=self.connection, serializer=self.serializer,
            logging_level=logging_level if logging_level is not None else self.log.level, **extra)
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def run_maintenance_tasks(self):
        """RQ retries the locks here (when its scheduler is not running): free stale ones first."""
        process = self.scheduler._process if self.scheduler else None
        if self.scheduler and (process is None or not process.is_alive()):
            clear_stale_locks(self.connection, self.queue_names())
        super().run_maintenance_tasks()
