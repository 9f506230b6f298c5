"""Issue 26, item 6: a content edit reaches running processes without a restart, and `content
check` refuses a site that can never be shown.

Each reload test runs a copy of the service from a temporary folder (its own content/ to edit):
gunicorn reloads on SIGHUP (`systemctl reload helpline-web`), the worker on SIGHUP too
(`systemctl reload helpline-worker`, `docker compose kill -s HUP web worker`).
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bot import create_app
from tests.conftest import ROOT, _BASE_ENV, Texter, make_settings
from tests.signing import AUTH_TOKEN, BASE_URL, signature, sms_form
from tests.test_ops_gunicorn import GUNICORN, free_port, wait_for
from tests.test_reminders import advance, scheduled
from tests.twilio_server import ACCOUNT_SID
from tests.waiting import wait_until

OLD_MENU, NEW_MENU = "Reply with a number:", "Send us a number:"


def service_copy(tmp_path: Path) -> Path:
    """The code, flows and content in a folder of their own, as /opt/helpline would hold them."""
    home = tmp_path / "helpline"
    shutil.copytree(ROOT / "bot", home / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("content", "flows"):
        shutil.copytree(ROOT / folder, home / folder)
    for name in ("wsgi.py", "worker.py", "gunicorn.conf.py"):
        shutil.copy(ROOT / name, home / name)
    return home


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_gunicorn_picks_up_a_content_edit_on_sighup(redis_url, redis_client, tmp_path):
    home, port = service_copy(tmp_path), free_port()
    env = {**_BASE_ENV, "REDIS_URL": redis_url, "HELPLINE_ENV": "test",
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": BASE_URL, "WEB_CONCURRENCY": "1",
           "GUNICORN_BIND": f"127.0.0.1:{port}"}
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=home,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def menu() -> str:
        form = sms_form("+16125550188", "menu")
        return requests.post(base + "/sms", data=form, timeout=10,
                             headers={"X-Twilio-Signature": signature(BASE_URL + "/sms", form)}).text
    try:
        wait_for(base + "/healthz", proc, log)
        assert OLD_MENU in menu()
        edit(home / "content" / "en" / "menu.yaml", OLD_MENU, NEW_MENU)
        assert OLD_MENU in menu()  # nothing changes by itself: the edit waits for the reload
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: NEW_MENU in menu() or proc.poll() is not None, "the new words")
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_worker_picks_up_a_content_edit_on_sighup(worker_env, fake_twilio, tmp_path):
    home = service_copy(tmp_path)
    app = create_app(make_settings(worker_env["REDIS_URL"], **worker_env,
                                   content_dir=home / "content", flows_dir=home / "flows"))
    person = Texter(app.test_client(), "+16125550189")
    person.send("CHECK")
    person.send("YES")  # "we will check on you in an hour"
    [at] = scheduled(app).values()

    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=home,
                                  env={**_BASE_ENV, **worker_env}, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Listening on" in log.read_text() or worker.poll() is not None,
                   "the worker to start")
        edit(home / "content" / "en" / "reminders.yaml", "checking on you after earlier",
             "how are you doing since earlier")
        worker.send_signal(signal.SIGHUP)
        advance(app, at)  # the hour has passed: the reminder job is due, the worker runs it
        wait_until(lambda: fake_twilio.messages or worker.poll() is not None, "the check")
        assert worker.poll() is None, log.read_text()[-3000:]
        [message] = fake_twilio.messages
        assert "how are you doing since earlier" in message.form["Body"]
        assert "content reloaded" in log.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def test_content_check_errors_on_a_site_appended_under_statewide(redis_url, redis_client,
                                                                  tmp_path):
    home = service_copy(tmp_path)
    sites = home / "content" / "mn" / "naloxone_sites.yaml"
    sites.write_text(sites.read_text(encoding="utf-8") + """
  - id: new-harm-reduction-site
    name: New Harm Reduction Site
    short_name: New HR Site
    phone: "218-555-0100"
    town: Bemidji
    zip: "56601"
    lat: 47.4736
    lon: -94.8803
    region: north
    services: [naloxone]
    source: mn-dhs-opioid-treatment-and-overdose-prevention.txt
""", encoding="utf-8")
    app = create_app(make_settings(redis_url, content_dir=home / "content"))
    result = app.test_cli_runner().invoke(args=["content", "check"])
    assert result.exit_code != 0
    output = result.output
    assert "'new-harm-reduction-site' has town, zip, lat, lon, region, services" in output
    assert "Move it under `sites:`" in output


@pytest.mark.parametrize("folder", ["content", "flows"])
def test_the_shipped_data_passes_the_checks(app, folder):
    result = app.test_cli_runner().invoke(args=[folder, "check"])
    assert result.exit_code == 0, result.output
