"""Issue 26, item 7: gunicorn's control socket is off, or one per instance.

gunicorn 25+ opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl), so two
instances on one host replaced each other's. gunicorn.conf.py turns it off unless
GUNICORN_CONTROL_SOCKET names this instance's own path. Two real gunicorns run side by side.
"""
from __future__ import annotations

import contextlib
import os
import stat
import subprocess

from tests.conftest import ROOT
from tests.signing import AUTH_TOKEN, BASE_URL
from tests.test_ops_gunicorn import GUNICORN, free_port, wait_for


@contextlib.contextmanager
def gunicorn(env: dict, log):
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                                env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc, log)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def is_socket(path) -> bool:
    return os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode)


def test_no_control_socket_by_default_and_one_per_instance_when_named(redis_url, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR",
                                                             "GUNICORN_CONTROL_SOCKET")}
    env.update({"HOME": str(home), "REDIS_URL": redis_url, "HELPLINE_ENV": "test",
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": BASE_URL,
                "WEB_CONCURRENCY": "1"})
    with gunicorn(env, tmp_path / "default.log"):
        assert not (home / ".gunicorn" / "gunicorn.ctl").exists()
    assert "outbound texts: on" in (tmp_path / "default.log").read_text()  # the start-up line

    first, second = tmp_path / "a.ctl", tmp_path / "b.ctl"
    with gunicorn({**env, "GUNICORN_CONTROL_SOCKET": str(first)}, tmp_path / "a.log"), \
            gunicorn({**env, "GUNICORN_CONTROL_SOCKET": str(second)}, tmp_path / "b.log"):
        assert is_socket(first) and is_socket(second)  # side by side, each its own
        assert not (home / ".gunicorn").exists()
