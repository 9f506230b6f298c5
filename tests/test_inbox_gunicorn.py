"""The inbox's live updates under gunicorn as the project runs it (gunicorn.conf.py): with one
gevent worker an open stream costs a greenlet, so texts are still answered while it is held;
with one sync worker the stream answers at once (the page asks again later) instead of taking
the only worker for its whole length. docs/inbox.md explains the choice."""
from __future__ import annotations

import os
import re

import pytest
import requests

from bot import create_app
from bot.inbox.events import Events
from tests.conftest import make_settings
from tests.signing import AUTH_TOKEN, BASE_URL
from tests.test_console import PASSWORD
from tests.test_ops_gunicorn import Server, free_port, running_gunicorn

ENV = {"HELPLINE_ENV": "test", "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": BASE_URL,
       "WEB_CONCURRENCY": "1", "INBOX_HOURS": "daily 00:00-24:00", "INBOX_STREAM_SECONDS": "20"}


@pytest.fixture()
def responder(redis_url, redis_client):
    app = create_app(make_settings(redis_url))
    with app.app_context():
        app.extensions["console"].accounts.add("ada", "responder", PASSWORD, totp=False)
    return Events(redis_client)


def signed_in(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(base + "/console/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = session.post(base + "/console/login", timeout=10, allow_redirects=False, data={
        "csrf_token": token, "username": "ada", "password": PASSWORD, "code": ""})
    assert answer.status_code == 302
    return session


def gunicorn(redis_url, tmp_path, **extra):
    env = {**os.environ, "REDIS_URL": redis_url, **ENV, **extra,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.pop("ACCESS_LOG", None)
    port = free_port()
    return running_gunicorn(env, port, tmp_path / "gunicorn.log"), Server(port, tmp_path / "log",
                                                                          tmp_path)


def test_a_held_stream_under_one_gevent_worker_leaves_texts_answered(redis_url, responder,
                                                                      tmp_path):
    running, server = gunicorn(redis_url, tmp_path)
    with running:
        session = signed_in(server.base)
        with session.get(server.base + "/console/inbox/events", stream=True, timeout=30,
                         headers={"Last-Event-ID": "0"}) as stream:
            assert stream.headers["X-Accel-Buffering"] == "no"
            lines = stream.iter_lines(decode_unicode=True)
            assert next(lines) == "retry: 2000"
            # the only worker holds the stream, and still answers an emergency text
            assert "911" in server.text("he is not breathing").text
            responder.notify("message", 7)
            seen = []
            for line in lines:
                seen.append(line)
                if line.startswith("data:") and '"ticket": 7' in line:
                    break
            assert "event: change" in seen


def test_under_a_sync_worker_the_stream_answers_at_once(redis_url, responder, tmp_path):
    running, server = gunicorn(redis_url, tmp_path, GUNICORN_WORKER_CLASS="sync")
    with running:
        session = signed_in(server.base)
        answer = session.get(server.base + "/console/inbox/events", timeout=10)
        assert answer.status_code == 200 and answer.text.startswith("retry: 10000")
        assert "911" in server.text("he is not breathing").text
