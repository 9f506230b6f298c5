"""`make run`: the web app under gunicorn and an RQ worker, side by side, until Ctrl-C.

Ctrl-C (or SIGTERM) stops them in order and quietly: each gets one SIGTERM (gunicorn finishes
the requests in flight, the worker its job, and its scheduler releases its lock), and this
script waits for both before it returns, so scripts/embedded_redis.py stops Valkey only after
them. They run in sessions of their own, so the terminal's SIGINT reaches only this script,
and Linux stops them should this script be killed outright (PR_SET_PDEATHSIG).

The signal handler only appends to a list, it takes no lock: Ctrl-C brings two SIGINTs at
once (the terminal's, and scripts/embedded_redis.py passing its own on), and the second runs
inside the first's handler. With a threading.Event the second handler waited for the Event's
lock, held by the first one below it in the same thread: a deadlock, in about 1 Ctrl-C of 5.
Every wait in the stop path is bounded, so Valkey is never left waiting for this script.
"""
from __future__ import annotations

import ctypes
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = os.environ.get("PORT", "5000")
STOP_WAIT = 30  # seconds for both to finish, together, before they are killed
POLL = 0.2      # seconds between looks at the signals received and the children


def banner() -> str:
    return f"""
Helpline running at http://127.0.0.1:{PORT}  (Redis: {os.environ.get('REDIS_URL')})

  Text it from a second terminal:   make chat        (or: make chat FROM=+16125550123)
  Call it from a second terminal:   make call
  Health:   curl http://127.0.0.1:{PORT}/healthz
  Connect a Twilio number: expose this port over https (e.g. a tunnel), set PUBLIC_BASE_URL
  to that origin and TWILIO_AUTH_TOKEN, then set the number's webhooks to
      A message comes in:  POST <PUBLIC_BASE_URL>/sms
      A call comes in:     POST <PUBLIC_BASE_URL>/voice
Ctrl-C stops everything.
"""


def _child_setup() -> None:
    """In the child before exec (Linux): SIGTERM when this script ends, however it ends."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG; libc is loaded already
    except (OSError, AttributeError):
        pass


def wait_for_stop(signals: list[int], seconds: float, procs=()) -> bool:
    """Sleep up to `seconds`, until a signal arrived or a child ended; True once a signal did."""
    deadline = time.monotonic() + seconds
    while not signals and all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(POLL)  # a signal interrupts it only to run the handler: look every POLL s
    return bool(signals)


def stop_all(procs: list[subprocess.Popen]) -> None:
    """One SIGTERM each, then wait for them all within STOP_WAIT s; kill what is left (its whole
    session: gunicorn's workers, RQ's scheduler and job process)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + STOP_WAIT
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            what = "the web app" if "gunicorn" in p.args[0] else "the worker"
            print(f"{what} did not stop within {STOP_WAIT} s: killed it.", flush=True)
            try:
                os.killpg(p.pid, signal.SIGKILL)  # a session of its own: its group is its pid
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def main() -> int:
    env = dict(os.environ)
    env.setdefault("HELPLINE_ENV", "development")
    bin_dir = Path(sys.executable).parent
    signals: list[int] = []  # appended by the handler; list.append takes no Python lock
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda sig, _: signals.append(sig))
    start = dict(cwd=ROOT, env=env, start_new_session=True, preexec_fn=_child_setup)
    procs = [subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py",
                               "--bind", f"127.0.0.1:{PORT}", "wsgi:app"], **start)]
    if (ROOT / "worker.py").exists():
        procs.append(subprocess.Popen([sys.executable, "worker.py"], **start))
    if not wait_for_stop(signals, 1.5):
        print(banner(), flush=True)
    wait_for_stop(signals, math.inf, procs)  # until Ctrl-C/SIGTERM, or one of them ends
    stop_all(procs)
    print("Stopped the web app and the worker.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
