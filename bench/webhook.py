"""Webhook throughput and latency: gunicorn (production config) + Redis + signatures, driven by wrk.

The same server config and load also run two baselines (bench/baseline_app.py), so the headline is
a ratio that means something on any machine: our throughput / (Flask + one Redis round trip).
"""
from __future__ import annotations

import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-auth-token-0123456789abcdef0123"
BASE = "https://help.example.org"
SCRIPT = [["hi", "2", "2", "55811", "more", "0"], ["hello", "4", "1", "back", "6"],
          ["narcan", "1", "0", "3", "1"], ["where do i get narcan", "st cloud", "0", "5", "1"],
          ["he is not breathing", "1", "0", "help"], ["methadone", "0", "4", "6", "0"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_requests(path: Path, numbers: int, route: str, seed: int = 7) -> int:
    """Conversations from `numbers` distinct people, interleaved as real traffic is. Each run
    gets its own seed: people and MessageSids of one run are never redeliveries of another's."""
    validator = RequestValidator(TOKEN)
    rng = random.Random(seed)
    people = [(f"+1612{rng.randrange(10**6, 10**7)}", rng.choice(SCRIPT)) for _ in range(numbers)]
    count = 0
    with path.open("w") as out:
        for turn in range(max(len(s) for s in SCRIPT)):
            for i, (number, script) in enumerate(people):
                if turn >= len(script):
                    continue
                form = {"From": number, "To": "+16125550100", "Body": script[turn],
                        "MessageSid": f"SM{seed:04d}{turn:04d}{i:024x}", "AccountSid": "AC" + "0" * 32}
                signature = validator.compute_signature(BASE + route, form)
                out.write(f"{route}\t{signature}\t{urlencode(form)}\n")
                count += 1
    return count


def start_server(app: str, port: int, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
                             "--bind", f"127.0.0.1:{port}", app], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(0.5)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{app} did not start on port {port}")


def wrk(port: int, requests_file: Path, seconds: int, connections: int, delay_ms: int = 0,
        timeout_s: int = 15) -> dict:
    """wrk's figures for one run; a request unanswered after Twilio's 15 s counts as a timeout."""
    threads = 2
    env = dict(os.environ, REQUESTS_FILE=str(requests_file), WRK_THREADS=str(threads),
               RATE_DELAY_MS=str(delay_ms))
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                          f"--timeout={timeout_s}s", "--latency",
                          "-s", str(ROOT / "bench" / "requests.lua"), f"http://127.0.0.1:{port}"],
                         env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rps"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    return result


def server_env(redis_url: str) -> dict:
    """What every benchmarked server runs with: production settings, signatures checked, and no
    inbound rate limit (one wrk connection replays many people's texts at full speed)."""
    return dict(os.environ, REDIS_URL=redis_url, HELPLINE_ENV="production",
                HELPLINE_SECRET=secrets.token_urlsafe(48), TWILIO_AUTH_TOKEN=TOKEN,
                PUBLIC_BASE_URL=BASE, LOG_FORMAT="json", RATE_LIMIT_PER_MINUTE="100000")


SERVERS = (("helpline", "wsgi:app", "/sms"), ("bare", "bench.baseline_app:app", "/bare"),
           ("bare_redis", "bench.baseline_app:app", "/redis"))


def run(redis_url: str, numbers: int = 10_000, seconds: int = 8, rounds: int = 5) -> dict:
    """All three servers stay up side by side, and the saturation runs take turns, round after
    round: on a shared machine the speed drifts by tens of percent over a minute, so each round's
    ratio compares runs made seconds apart, and the headline is the median of those ratios."""
    env = server_env(redis_url)
    results: dict = {"numbers": numbers, "seconds": seconds, "rounds": rounds}
    runs = ["warmup", "moderate"] + [f"saturation{i}" for i in range(rounds)]
    with tempfile.TemporaryDirectory() as tmp:
        files = {(route, run): Path(tmp) / f"{route.strip('/')}-{run}.txt"
                 for _, _, route in SERVERS for run in runs}
        for (route, run), path in files.items():
            count = write_requests(path, numbers, route, seed=runs.index(run) + 1)
            results.setdefault("requests_in_file", count)
        servers = {}
        try:
            for name, app, route in SERVERS:
                port = free_port()
                servers[name] = (port, route, start_server(app, port, env))
            for name, (port, route, _) in servers.items():
                wrk(port, files[route, "warmup"], 3, 32)
            saturation: dict = {name: [] for name in servers}
            for i in range(rounds):
                for name, (port, route, _) in servers.items():
                    saturation[name].append(wrk(port, files[route, f"saturation{i}"], seconds, 64))
            for name, (port, route, _) in servers.items():
                ordered = sorted(saturation[name], key=lambda r: r["rps"])
                results[name] = {"saturation": ordered[len(ordered) // 2],
                                 "saturation_rps_by_round": [r["rps"] for r in saturation[name]],
                                 "moderate": wrk(port, files[route, "moderate"], seconds, 8,
                                                 delay_ms=40)}
        finally:
            for _, _, server in servers.values():
                server.terminate()
                server.wait(timeout=20)
    for baseline in ("bare_redis", "bare"):
        ratios = [ours / theirs for ours, theirs in
                  zip(results["helpline"]["saturation_rps_by_round"],
                      results[baseline]["saturation_rps_by_round"])]
        results[f"throughput_ratio_vs_{baseline}_by_round"] = [round(x, 3) for x in ratios]
        results[f"throughput_ratio_vs_{baseline}"] = round(statistics.median(ratios), 3)
    return results


def hung_redis(numbers: int = 2_000, seconds: int = 10) -> dict:
    """Texts answered while Redis accepts connections and never replies (a stuck server, a
    failover under way): each text waits REDIS_TIMEOUT_SECONDS, then gets the reply that needs no
    state (emergency steps, the menu). What matters is how many such waits a worker holds."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    held: list = []

    def accept_and_hold() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:  # closed: the run is over
                return

    threading.Thread(target=accept_and_hold, daemon=True).start()
    env = server_env(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "hung.txt"
            write_requests(path, numbers, "/sms", seed=99)
            port = free_port()
            server = start_server("wsgi:app", port, env)
            try:
                result = wrk(port, path, seconds, 64)
            finally:
                server.terminate()
                server.wait(timeout=20)
    finally:
        listener.close()
        for sock in held:
            sock.close()
    return result


def main() -> int:
    """`python -m bench.webhook [ROUNDS]`: only the webhook's throughput ratio, on its own embedded
    Valkey, for a before/after comparison of one change (make bench runs everything)."""
    import json
    import sys

    from bench.run import start_valkey

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_valkey(Path(tmp))
        try:
            result = run(url, rounds=rounds)
        finally:
            server.stop()
    print(json.dumps({k: result[k] for k in result if k.startswith("throughput_ratio")}
                     | {name: result[name]["saturation_rps_by_round"]
                        for name, _, _ in SERVERS}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
