"""gunicorn settings for production and `make run`; each value can be overridden by env vars."""
import glob
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile

# Prometheus: each worker writes its counters to files in this directory and /metrics sums them
# (bot/ops/metrics.py). Set PROMETHEUS_MULTIPROC_DIR to choose it; by default each gunicorn gets a
# fresh temporary one. It must be set before prometheus_client is imported anywhere.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="helpline-metrics-")
from prometheus_client import multiprocess  # noqa: E402

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# gevent: a text waits on Redis twice (read, then commit); a sync worker sleeps through each wait
# and the kernel switches processes, while a gevent worker answers other texts meanwhile. It also
# keeps answering when Redis is slow (up to REDIS_TIMEOUT_SECONDS), where 2 x CPUs + 1 sync
# workers would all be stuck. GUNICORN_WORKER_CLASS=sync is the plain alternative (gunicorn
# makes it gthread when GUNICORN_THREADS is over 1); bench/RESULTS.md has the figures.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# A gevent worker never sleeps while it has work, so one per CPU keeps every CPU busy; more would
# only add process switches and split the Redis calls that one worker sends together
# (bot/storage/lane.py). A sync worker sleeps on every wait: gunicorn's 2 x CPUs + 1.
_cpus = multiprocessing.cpu_count()
workers = int(os.environ.get("WEB_CONCURRENCY", _cpus if worker_class == "gevent" else 2 * _cpus + 1))
# Connections one gevent worker holds at once (gunicorn's default). A held connection costs a
# greenlet, not a thread, and none is held for long: gunicorn drops a request head not read
# within `keepalive` s, and bot/channels/body_timeout.py answers 408 to a body not read within
# BODY_READ_TIMEOUT_SECONDS. At 100, about 210 clients trickling bodies filled both workers
# and emergency texts went unanswered (docs/security-and-resilience.md has the figures); in
# production the reverse proxy (deploy/nginx.conf) buffers bodies before they reach us.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))  # per worker
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = 20          # Twilio gives up after 15 s; a stuck worker is replaced soon after
graceful_timeout = 10
keepalive = 5
# Recycle a worker now and then, a guard against slow leaks. Not often: a new worker loads the
# content, flows and ZIP data again (about a second of CPU), and at 1,000 texts a second per
# worker a limit of 5,000 would spend a fifth of the CPU starting workers, at the busiest time.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
# gunicorn's control socket (`gunicornc`) defaults to one path per user
# ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl), so two instances on one host replace each
# other's. Off unless GUNICORN_CONTROL_SOCKET names this instance's own path.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
accesslog = "-" if os.environ.get("ACCESS_LOG", "") == "on" else None
errorlog = "-"
# Access logs would carry no numbers (Twilio posts form bodies), but stay off by default.
logger_class = "bot.ops.logs.GunicornLogger"  # JSON lines when LOG_FORMAT=json, numbers masked


def on_starting(server):
    """Check the settings once, in the master, and say in one line whether texts go out;
    counters left by an earlier run in the same directory would add to this run's."""
    from bot.config import load_settings

    server.log.info(load_settings().sending_line())  # a ConfigError stops gunicorn here
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def child_exit(server, worker):
    """A dead worker's live gauges must not linger in the sums (its counters do, as they should)."""
    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    """A gevent worker leaving (Ctrl-C, SIGTERM, max_requests): its interpreter's teardown runs
    after gevent's, and logging's clean-up then prints "Exception ignored ... TypeError"
    tracebacks on every stop. Flush the logs and leave with the same exit code, without that
    teardown (gunicorn has done its own clean-up; child_exit runs in the master)."""
    exc = sys.exc_info()[1]
    if not isinstance(exc, SystemExit) or "gevent" not in type(worker).__name__.lower():
        return
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def on_exit(server):
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if os.path.basename(metrics_dir).startswith("helpline-metrics-"):
        shutil.rmtree(metrics_dir, ignore_errors=True)


def post_worker_init(worker):
    """The app is loaded (content, flows, ZIP codes: hundreds of thousands of objects that live as
    long as the worker). Move them out of the garbage collector's sight, so its collections, run
    every few texts, walk only what the texts themselves made."""
    import gc

    gc.freeze()
