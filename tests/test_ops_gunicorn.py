"""The production server: gunicorn.conf.py with two workers, metrics summed, JSON log lines."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from tests.signing import AUTH_TOKEN, BASE_URL, new_sid, signature, sms_form
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
NUMBER = "+16125550177"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int, log: Path, metrics_dir: Path):
        self.port, self.log, self.metrics_dir = port, log, metrics_dir
        self.base = f"http://127.0.0.1:{port}"

    def text(self, body: str, token: str | None = None, sid: str | None = None):
        form = sms_form(NUMBER, body, sid)
        headers = {"X-Twilio-Signature": signature(BASE_URL + "/sms", form)}
        if token:
            headers["I-Twilio-Idempotency-Token"] = token
        return requests.post(self.base + "/sms", data=form, headers=headers, timeout=10)

    def held_request(self, body: str) -> tuple[socket.socket, str]:
        """Send all but the end of a signed request's headers: one worker waits on it."""
        form = sms_form(NUMBER, body)
        data = urlencode(form)
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall((f"POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      f"Content-Type: application/x-www-form-urlencoded\r\n"
                      f"Content-Length: {len(data)}\r\n"
                      f"X-Twilio-Signature: {signature(BASE_URL + '/sms', form)}\r\n").encode())
        return sock, data

    def emergency_count(self) -> float:
        text = requests.get(self.base + "/metrics", timeout=10).text
        assert "helpline_stale_run" not in text  # left by an "earlier run": wiped at start
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if (s.name == "helpline_emergency_replies_total"
                        and s.labels == {"kind": "emergency", "channel": "sms"}):
                    return s.value
        return 0.0


def release(held: tuple[socket.socket, str]) -> str:
    sock, data = held
    with sock:
        sock.sendall(b"\r\n" + data.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def seed_stale_counter(metrics_dir: Path) -> None:
    stale = MmapedDict(str(metrics_dir / "counter_4242.db"))
    stale.write_value(mmap_key("helpline_stale_run", "helpline_stale_run_total", [], [],
                               "left by an earlier run"), 7.0, 0.0)
    stale.close()


@pytest.fixture(scope="module")
def server(redis_url, tmp_path_factory):
    """One gunicorn for this module's tests: starting one takes a few seconds."""
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    port, log = free_port(), tmp_path / "gunicorn.log"
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    seed_stale_counter(metrics_dir)
    env = {**os.environ, "REDIS_URL": redis_url, "HELPLINE_ENV": "test", "LOG_FORMAT": "json",
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": BASE_URL, "WEB_CONCURRENCY": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           # One connection per (gevent) worker: a held request keeps worker A busy, so the
           # next texts are worker B's, as the summed-counters test needs.
           "GUNICORN_WORKER_CONNECTIONS": "1"}
    env.pop("ACCESS_LOG", None)
    with running_gunicorn(env, port, log):
        yield Server(port, log, metrics_dir)


@contextlib.contextmanager
def running_gunicorn(env: dict, port: int, log: Path):
    """gunicorn with gunicorn.conf.py on a local port, answering /healthz, stopped afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py", "--no-control-socket",
                                 "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc, log)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def wait_for(url: str, proc: subprocess.Popen, log: Path) -> None:
    """Until gunicorn answers (the first answer waits for a worker to load the app)."""

    def answers() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited with {proc.returncode}:\n{log.read_text()}")
        try:
            requests.get(url, timeout=5)
            return True
        except requests.RequestException:
            return False

    wait_until(answers, f"gunicorn at {url}")


def test_two_workers_report_the_same_summed_counters(server):
    before = server.emergency_count()
    held = server.held_request("he is not breathing")  # worker A waits for the rest of it
    try:
        answers = [server.text("he is not breathing").text for _ in range(3)]  # worker B's
    finally:
        answer = release(held)
    assert "200 OK" in answer and all("911" in text for text in answers + [answer])
    assert "911" in server.text("overdose").text

    counts = {server.emergency_count() for _ in range(6)}

    assert counts == {before + 5}  # whichever worker answers the scrape
    pids = {p.name.split("_")[-1] for p in server.metrics_dir.glob("counter_*.db")} - {"4242.db"}
    assert len(pids) == 2  # both workers counted, and the sum is right
    scraped = requests.get(server.base + "/metrics", timeout=10).text
    assert "helpline_redis_up 1.0" in scraped and 'helpline_queue_depth{queue="default"}' in scraped


def test_log_lines_are_json_with_request_ids_and_no_numbers(server):
    sid = new_sid()
    first = server.text("menu", token="idem-first", sid=sid)
    again = server.text("menu", token="idem-again", sid=sid)  # Twilio's retry
    assert first.status_code == again.status_code == 200
    assert again.headers["X-Request-Id"] == "idem-again"
    assert server.text("he is not breathing").status_code == 200

    records = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]

    assert any(r["logger"] == "gunicorn.error" for r in records)  # gunicorn's own lines too
    duplicate = [r for r in records if "duplicate delivery" in r["message"]]
    assert [r["request_id"] for r in duplicate] == ["idem-again"]
    assert NUMBER[2:] not in server.log.read_text()
