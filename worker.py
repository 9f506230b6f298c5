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

The worker is bot/ops/scheduling.py's HelplineWorker: after any stop (Ctrl-C, kill -9, a
crash) the next worker takes over the dead scheduler's lock at once instead of waiting ten
minutes, and its scheduler process never outlives it. Ctrl-C (SIGINT) or SIGTERM ends the
current job, then the worker, without a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys

from rq.worker_pool import WorkerPool

from bot.checkins import jobs

from bot.ops import logs as web_logging
from bot.config import check_worker, load_settings
from bot.helpline import connect
from bot.ops.scheduling import HelplineWorker


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the helpline's RQ workers.")
    parser.add_argument("--burst", action="store_true",
                        help="dispatch what is due, drain the queues, then exit")
    parser.add_argument("--workers", type=int, default=1, help="how many workers (default 1)")
    parser.add_argument("--queues", default=",".join(jobs.QUEUES),
                        help="comma-separated queue names, in priority order")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    settings = load_settings()
    check_worker(settings)  # production needs PUBLIC_BASE_URL for delivery reports
    web_logging.configure(settings)  # before RQ's own set-up, so numbers are masked in its lines
    logging.getLogger("worker").info(settings.sending_line())
    rt = jobs.Runtime.build(settings).warm()
    jobs.use(rt)  # built once here; every forked job process inherits it
    queues = [name.strip() for name in args.queues.split(",") if name.strip()]
    if args.burst:
        jobs.dispatch(rt, jobs.utcnow())
    else:
        jobs.schedule_tick(rt.queue(jobs.DISPATCH_QUEUE), jobs.utcnow())
    if args.workers > 1:
        WorkerPool(queues, connection=connect(settings), num_workers=args.workers,
                   worker_class=HelplineWorker).start(burst=args.burst)
        return 0
    HelplineWorker(queues, connection=connect(settings)).work(burst=args.burst,
                                                              with_scheduler=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the worker installed its own handlers
        sys.exit(130)
