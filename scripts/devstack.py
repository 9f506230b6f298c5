"""`make run`: the web app under gunicorn and an RQ worker, side by side, until Ctrl-C.

Ctrl-C (or SIGTERM) stops them in order and quietly: each gets one SIGTERM (gunicorn finishes
the requests in flight, the worker its job, and its scheduler releases its lock), and this
script waits for both before it returns, so scripts/embedded_redis.py stops Valkey only after
them. They run in sessions of their own, so the terminal's SIGINT reaches only this script,
and Linux stops them should this script be killed outright (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = os.environ.get("PORT", "5000")
STOP_WAIT = 30  # seconds for both to finish before they are killed


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


def main() -> int:
    env = dict(os.environ)
    env.setdefault("HELPLINE_ENV", "development")
    bin_dir = Path(sys.executable).parent
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    start = dict(cwd=ROOT, env=env, start_new_session=True, preexec_fn=_child_setup)
    procs = [subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py",
                               "--bind", f"127.0.0.1:{PORT}", "wsgi:app"], **start)]
    if (ROOT / "worker.py").exists():
        procs.append(subprocess.Popen([sys.executable, "worker.py"], **start))
    if not stop.wait(1.5):
        print(banner(), flush=True)
    while not stop.wait(0.5) and all(p.poll() is None for p in procs):
        pass
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    print("Stopped the web app and the worker.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
