"""`python worker.py`: RQ workers, with RQ's scheduler, for the helpline's queues.

    python worker.py                 work until SIGTERM/Ctrl-C (the current job finishes first)
    python worker.py --burst         dispatch what is due now, drain the queues, exit
                                     (tests, and cron-style hosting: run it every minute)
    python worker.py --workers 4     a pool of 4 (RQ's WorkerPool); respawns a worker that dies

Queues: "default" (the check-in dispatcher) before "outbound" (texts; the phone line queues
its "text me this" there too). The dispatcher runs every minute through RQ's scheduler: each
run books the next, with the minute as job id, so any number of workers keep one chain going,
and every start books it again in case it broke. Check-ins go out as batch jobs of up to 200
texts, each sent on a few threads (bot/checkins/jobs.py), so one worker keeps several texts at Twilio
at once. Settings come from the environment, as for the web app (REDIS_URL, TWILIO_*,
HELPLINE_SECRET, SEND_RATE_PER_SECOND, QUIET_HOURS_*).

Why the forking rq.Worker and not rq.SimpleWorker: a fork costs 15-40 ms per job (copied
pages, new connections), which capped a worker at ~30 texts/s when each text was a job; paid
once per batch it is about 0.2 ms per text and no longer limits the rate, and the fork keeps
what it buys: the parent heartbeats the job while a batch runs (the dispatcher re-sends a
batch's check-ins only once its job stops heartbeating), kills a job that outlives its
timeout, and a job that crashes or leaks memory takes only its own process down. Before
forking, the worker builds the Twilio client and compiles the check-in templates once
(jobs.Runtime.warm), so job processes inherit them. SIGKILL of the whole worker is safe either
way (tests/test_jobs_crash.py).

When Redis goes away mid-job, RQ's worker quits; this process waits for Redis and starts a new
worker itself (work_until_stopped), so a single machine without a supervisor that restarts it
still sends what it promised. The worker is bot/ops/scheduling.py's HelplineWorker: after any
stop (Ctrl-C, kill -9, a crash) the next worker takes over the dead scheduler's lock at once
instead of waiting ten minutes, and its scheduler process never outlives it. Ctrl-C (SIGINT) or
SIGTERM ends the current job, then the worker, without a traceback; SIGHUP reads content/ and
flows/ again before the next job (`systemctl reload helpline-worker`).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.worker_pool import WorkerPool

from bot.checkins import jobs

from bot.ops import logs as web_logging
from bot.config import check_worker, load_settings
from bot.helpline import build, connect
from bot.ops.scheduling import HelplineWorker

log = logging.getLogger("worker")
REDIS_LOST = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
WAIT_MAX = 10  # seconds between tries while Redis is away (1, 2, 4, 8, 10, 10, ...)
QUICK_QUITS = 5  # unasked-for quits within a minute, Redis answering, before giving up


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the helpline's RQ workers.")
    parser.add_argument("--burst", action="store_true",
                        help="dispatch what is due, drain the queues, then exit")
    parser.add_argument("--workers", type=int, default=1, help="how many workers (default 1)")
    parser.add_argument("--queues", default=",".join(jobs.QUEUES),
                        help="comma-separated queue names, in priority order")
    return parser.parse_args(argv)


def wait_for_redis(connection) -> None:
    """Until Redis answers again, trying less often the longer it is away."""
    delay = 1.0
    while True:
        try:
            connection.ping()
            return
        except REDIS_LOST:
            time.sleep(delay)
            delay = min(delay * 2, WAIT_MAX)


def _stop_waiting(signum, frame) -> None:
    """SIGTERM while waiting for Redis: nothing is running, so leave at once, cleanly."""
    log.info("stopped while waiting for Redis")
    sys.exit(0)


def _reap(worker) -> None:
    """RQ leaves a job process running when it quits mid-job: let it end before a new worker
    starts (its job's own timeout bounds the wait), so no two processes hold one job."""
    pid = getattr(worker, "_horse_pid", 0) or getattr(worker, "horse_pid", 0)
    if pid:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def requeue_lost(connection, job_id: str | None) -> None:
    """The job the lost worker was running, if its process could not finish it, goes back on
    its queue now rather than when RQ's started registry expires it (the job's timeout later,
    and then failed for good unless it had retries). Running a job here again is safe: each
    text has its send marker (bot/outbound/delivery.py), each check-in its lease."""
    if not job_id:
        return
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return
    if job.get_status(refresh=False) != JobStatus.STARTED:
        return  # its process finished it after all
    queue = Queue(job.origin, connection=connection)
    queue.started_job_registry.remove_executions(job)
    queue.enqueue_job(job, at_front=True)
    log.warning("job %s, interrupted when Redis went away, is queued again", job_id)


_RELOAD = threading.Event()


def _ask_reload(signum, frame) -> None:
    _RELOAD.set()


class ReloadingWorker(HelplineWorker):
    """SIGHUP (`systemctl reload`, `docker compose kill -s HUP worker`): content and flows are
    read again before the next job, so a content edit reaches texts without a restart. A
    broken edit is logged and the words in use are kept."""

    def execute_job(self, job, queue):
        if _RELOAD.is_set():
            _RELOAD.clear()
            reload_runtime()
        return super().execute_job(job, queue)


def reload_runtime() -> None:
    try:
        rt = jobs.Runtime.of(build(load_settings())).warm()
    except Exception as exc:  # a broken edit must not stop the sending
        log.error("content reload failed, keeping the content in use: %s", exc)
        return
    jobs.use(rt)
    log.info("content reloaded (%d messages)", len(rt.helpline.content.keys()))


def work_until_stopped(settings, queues: list[str], rt) -> int:
    """RQ's worker quits its loop when Redis goes away mid-job (a ConnectionError while it
    heartbeats the job, rq/worker/worker_classes.py monitor_work_horse) or while it waits
    (TimeoutError). Outside compose nothing would restart it, and people who were told "we
    will text you" would wait for ever. So this process waits for Redis and starts a new
    worker itself; what the lost worker held is recovered as after a crash (RQ's abandoned
    job handling, the dispatcher's leases, the send markers' exactly-once protocol). Redis
    may be back already when RQ gives up, so any quit that was not asked for starts a new
    worker; QUICK_QUITS of them within a minute with Redis answering exit with 1 instead, for
    the supervisor (and a person) to look at."""
    quits: list[float] = []
    while True:
        connection = connect(settings)
        worker = None
        try:
            jobs.schedule_tick(rt.queue(jobs.DISPATCH_QUEUE), jobs.utcnow())  # in case it broke
            worker = ReloadingWorker(queues, connection=connection)
            worker.work(with_scheduler=True)
        except REDIS_LOST:
            pass  # RQ's own teardown needs Redis too
        # SIGTERM/Ctrl-C: RQ notes the date, and sets _stop_requested only when it was busy.
        stopped = worker is not None and (worker._stop_requested
                                          or worker._shutdown_requested_date is not None)
        lost = worker.execution.job_id if worker is not None and worker.execution else None
        if worker is not None:
            _reap(worker)
        signal.signal(signal.SIGTERM, _stop_waiting)  # the lost worker's handlers are stale
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if stopped:
            return 0
        try:
            connection.ping()
            now = time.monotonic()
            quits = [t for t in quits if now - t < 60] + [now]
            if len(quits) >= QUICK_QUITS:
                return 1  # RQ keeps quitting with Redis up (its log says why)
            log.warning("the worker quit without being asked: starting it again")
            time.sleep(1)
        except REDIS_LOST:
            log.warning("Redis went away: waiting for it, then starting the worker again")
            wait_for_redis(connection)
            log.warning("Redis answers again: starting the worker again")
        try:
            requeue_lost(connection, lost)
        except REDIS_LOST:
            pass  # gone again: RQ's abandoned-job handling brings it back later


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    settings = load_settings()
    check_worker(settings)  # production needs PUBLIC_BASE_URL for delivery reports
    web_logging.configure(settings)  # before RQ's own set-up, so numbers are masked in its lines
    log.info(settings.sending_line())
    rt = jobs.Runtime.of(build(settings)).warm()
    jobs.use(rt)  # built once here; every forked job process inherits it
    HelplineWorker.make_follower = staticmethod(lambda: jobs.follower(build))  # reloads, sites
    queues = [name.strip() for name in args.queues.split(",") if name.strip()]
    if args.burst:
        jobs.dispatch(rt, jobs.utcnow())
        HelplineWorker(queues, connection=connect(settings)).work(burst=True,
                                                                  with_scheduler=True)
        return 0
    if args.workers > 1:
        jobs.schedule_tick(rt.queue(jobs.DISPATCH_QUEUE), jobs.utcnow())
        WorkerPool(queues, connection=connect(settings), num_workers=args.workers,
                   worker_class=HelplineWorker).start(burst=args.burst)
        return 0
    signal.signal(signal.SIGHUP, _ask_reload)
    return work_until_stopped(settings, queues, rt)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the worker installed its own handlers
        sys.exit(130)
