"""How many slow clients it takes before emergency texts go unanswered (issue 19, item 2).

    .venv/bin/python scripts/embedded_redis.py .venv/bin/python -m bench.slow_clients \
        --connections 100 --body-timeout 0 --counts 150,190,220   # the old settings
    ... -m bench.slow_clients                           # today's defaults
    ... -m bench.slow_clients --nginx                   # behind deploy/nginx.conf

One gunicorn (two gevent workers) on 127.0.0.1 only, optionally behind nginx with
deploy/nginx.conf (with or without its per-address cap: the slow clients come from 127.0.0.2). For each count N, N clients trickle a body
a byte every 0.5 s and re-connect whenever the server ends them (tests/slow_clients.py); after
a few seconds three emergency texts are sent, each on a new connection, and each must be
answered within Twilio's 15 s. The first N at which one is not is printed. Bounded: each round
lasts about 25 s, every socket goes to the loopback, and the run stops by itself.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.signing import AUTH_TOKEN, BASE_URL, signature, sms_form
from tests.slow_clients import Trickle
from tests.test_ops_gunicorn import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def emergency_answered(port: int, n: int) -> bool:
    form = sms_form(f"+1612555{n % 10000:04d}", "he is not breathing")
    try:
        reply = requests.post(f"http://127.0.0.1:{port}/sms", data=form, timeout=15,
                              headers={"X-Twilio-Signature": signature(BASE_URL + "/sms", form)})
    except requests.RequestException:
        return False
    return reply.status_code == 200 and "911" in reply.text


def wait_up(port: int) -> None:
    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


def start_nginx(tmp: Path, listen: int, upstream: int, address_limit: bool) -> subprocess.Popen:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    if not address_limit:  # the worst case: an attacker with as many addresses as it likes
        conf = conf.replace("limit_conn per_address 256;", "")
    conf = (conf.replace("server web:8000;", f"server 127.0.0.1:{upstream};")
            .replace("listen 80;", f"listen 127.0.0.1:{listen};")
            .replace("pid /tmp/nginx.pid;", f"pid {tmp}/nginx.pid;")
            .replace("http {", f"http {{\n    client_body_temp_path {tmp}/body;\n"
                               f"    proxy_temp_path {tmp}/proxy;", 1))
    (tmp / "nginx.conf").write_text(conf)
    return subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-e", "stderr", "-p",
                             str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
                            stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=0,
                        help="GUNICORN_WORKER_CONNECTIONS (default: gunicorn.conf.py's)")
    parser.add_argument("--body-timeout", type=float, default=5.0,
                        help="BODY_READ_TIMEOUT_SECONDS (0: no deadline, the old behaviour)")
    parser.add_argument("--counts", default="100,200,400,1000,2000,3000")
    parser.add_argument("--nginx", action="store_true", help="put deploy/nginx.conf in front")
    parser.add_argument("--no-address-limit", action="store_true",
                        help="with --nginx: without its per-address connection cap")
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "HELPLINE_ENV": "test", "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "PUBLIC_BASE_URL": BASE_URL, "WEB_CONCURRENCY": "2", "RATE_LIMIT_PER_MINUTE": "0",
           "BODY_READ_TIMEOUT_SECONDS": str(args.body_timeout)}
    if args.connections:
        env["GUNICORN_WORKER_CONNECTIONS"] = str(args.connections)
    tmp = Path(tempfile.mkdtemp(prefix="slow-clients-"))
    web = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py", "--no-control-socket",
                            "--bind", f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        wait_up(port)
        target = port
        if args.nginx:
            target = free_port()
            proxy = start_nginx(tmp, target, port, not args.no_address_limit)
            wait_up(target)
        print(f"settings: connections={args.connections or 'default'} "
              f"body_timeout={args.body_timeout} nginx={args.nginx} "
              f"address_limit={args.nginx and not args.no_address_limit}", flush=True)
        for count in (int(c) for c in args.counts.split(",")):
            # The slow clients come from 127.0.0.2, the emergency texts from 127.0.0.1.
            with Trickle(target, count, interval=0.5, source="127.0.0.2") as attack:
                time.sleep(5)
                answered = [emergency_answered(target, i) for i in range(3)]
                ended = attack.ended
            print(f"{count:6d} slow connections: {sum(answered)}/3 emergency texts answered "
                  f"({ended} slow connections ended by the server)", flush=True)
            if not all(answered):
                print(f"RESULT: emergency texts failed at {count} slow connections")
                return 0
            time.sleep(3)
        print(f"RESULT: every emergency text answered up to {count} slow connections")
        return 0
    finally:
        for proc in (proxy, web):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
