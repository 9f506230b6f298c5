"""Emergency replies while forged many-field requests flood the webhook (issue 25, item 4).

    .venv/bin/python scripts/embedded_redis.py .venv/bin/python -m bench.field_flood
    ... -m bench.field_flood --tree /path/to/an/older/checkout   # the same against older code

One gunicorn (two gevent workers) on 127.0.0.1 only. `--flooders` threads post forged /sms
requests of `--fields` tiny fields (within the 64 KiB body cap) as fast as they are answered,
while one client sends an emergency text at a time and times each reply. Prints the emergency
reply's median and 90th percentile with and without the flood, and how many forged requests
were refused. Bounded: about `--seconds` of flood, every socket to the loopback.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from bench.slow_clients import GUNICORN, wait_up
from tests.signing import AUTH_TOKEN, BASE_URL, signature, sms_form
from tests.test_ops_gunicorn import free_port

ROOT = Path(__file__).resolve().parent.parent


def emergency_ms(session: requests.Session, port: int, n: int) -> float:
    """Milliseconds to the emergency reply; 15,000 (Twilio's deadline) when none came by then."""
    form = sms_form(f"+1612556{n % 10000:04d}", "he is not breathing")
    started = time.perf_counter()
    try:
        reply = session.post(f"http://127.0.0.1:{port}/sms", data=form, timeout=15,
                             headers={"X-Twilio-Signature": signature(BASE_URL + "/sms", form)})
    except requests.RequestException:
        return 15_000.0
    assert reply.status_code == 200 and "911" in reply.text, reply.text[:200]
    return (time.perf_counter() - started) * 1000


def flood(port: int, body: bytes, stop: threading.Event, counts: list) -> None:
    session = requests.Session()
    headers = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl",
               "Content-Type": "application/x-www-form-urlencoded"}
    while not stop.is_set():
        try:
            counts.append(session.post(f"http://127.0.0.1:{port}/sms", data=body,
                                       headers=headers, timeout=15).status_code)
        except requests.RequestException:
            counts.append(0)


def summary(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    late = sum(t >= 15_000 for t in ordered)
    return (f"{label}: median {statistics.median(ordered):.1f} ms, "
            f"p90 {ordered[int(len(ordered) * 0.9) - 1]:.1f} ms over {len(ordered)} texts, "
            f"{late} not answered within 15 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout gunicorn runs")
    parser.add_argument("--fields", type=int, default=7000)
    parser.add_argument("--flooders", type=int, default=8)
    parser.add_argument("--texts", type=int, default=40)
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "HELPLINE_ENV": "test", "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "PUBLIC_BASE_URL": BASE_URL, "WEB_CONCURRENCY": "2", "RATE_LIMIT_PER_MINUTE": "0",
           "LOG_FORMAT": "text"}
    log = open(os.devnull, "w")
    web = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py", "--no-control-socket",
                            "--bind", f"127.0.0.1:{port}", "wsgi:app"], cwd=args.tree, env=env,
                           stdout=log, stderr=subprocess.PIPE, text=True)
    try:
        wait_up(port)
        session = requests.Session()
        for n in range(5):  # warm both workers
            emergency_ms(session, port, n)
        quiet = [emergency_ms(session, port, n) for n in range(args.texts)]
        body = "&".join(f"f{i}=" for i in range(args.fields)).encode()
        stop, counts = threading.Event(), []
        threads = [threading.Thread(target=flood, args=(port, body, stop, counts), daemon=True)
                   for _ in range(args.flooders)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        flooded = [emergency_ms(session, port, 1000 + n) for n in range(args.texts)]
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
        print(f"tree: {args.tree}")
        print(summary("no flood", quiet))
        print(summary(f"{args.flooders} flooders of {args.fields} fields", flooded))
        print(f"forged requests answered: {len(counts)} "
              f"({', '.join(f'{counts.count(s)} x {s}' for s in sorted(set(counts)))})")
    finally:
        web.terminate()
        _, err = web.communicate(timeout=30)
        warnings = sum("X-Twilio-Signature" in line or "refused" in line
                       for line in err.splitlines())
        print(f"log lines about refusals: {warnings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
