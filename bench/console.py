"""How long a console or RQ dashboard page takes to answer when Redis is hung (accepts
connections, never answers) or refuses them: `python -m bench.console`. Runs on its own (not part
of `make bench`); the test (tests/test_console_hardening.py) asserts the page, never the time.
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import threading
import time

from flask.sessions import SecureCookieSessionInterface

PATHS = ("/console/", "/console/audit", "/console/staff", "/admin/rq/")
ROUNDS = 5


def hung_redis() -> str:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    held = []
    threading.Thread(target=lambda: [held.append(listener.accept()[0]) for _ in iter(int, 1)],
                     daemon=True).start()
    return f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def refusing_redis() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"redis://127.0.0.1:{port}/0"


def measure(url: str) -> dict:
    from bot import create_app
    from bot.config import load_settings

    app = create_app(load_settings({"REDIS_URL": url, "HELPLINE_ENV": "test"}))
    client = app.test_client()  # a browser with a session from before Redis went away
    cookie = SecureCookieSessionInterface().get_signing_serializer(app).dumps({"sid": "s" * 43})
    client.set_cookie("helpline_console", cookie)
    seconds, statuses = [], set()
    for _ in range(ROUNDS):
        for path in PATHS:
            start = time.perf_counter()
            statuses.add(client.get(path).status_code)
            seconds.append(time.perf_counter() - start)
    return {"pages": len(seconds), "statuses": sorted(statuses),
            "median_s": round(statistics.median(seconds), 3), "max_s": round(max(seconds), 3)}


def main() -> None:
    os.environ.setdefault("HELPLINE_ENV", "test")
    print(json.dumps({"hung": measure(hung_redis()), "refused": measure(refusing_redis())},
                     indent=2))


if __name__ == "__main__":
    main()
