"""`make run`: the web app under gunicorn and an RQ worker, side by side, until Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = os.environ.get("PORT", "5000")


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


def main() -> int:
    env = dict(os.environ)
    env.setdefault("HELPLINE_ENV", "development")
    bin_dir = Path(sys.executable).parent
    procs = [subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py",
                               "--bind", f"127.0.0.1:{PORT}", "wsgi:app"], cwd=ROOT, env=env)]
    if (ROOT / "worker.py").exists():
        procs.append(subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env))
    time.sleep(1.5)
    print(banner(), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: [p.terminate() for p in procs])
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        p.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
