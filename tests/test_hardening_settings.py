"""Issue 19, item 5 and the deployment files of item 2.

5. Without PUBLIC_BASE_URL a text carried no StatusCallback, so delivery reports never came and
   "3 undelivered, then hold" never worked. The worker now refuses to start in production
   without it, saying why; with it, every text asks for reports at /sms/status.
2. Slow clients: docker-compose.yml puts a buffering proxy (deploy/Caddyfile; deploy/nginx.conf
   for nginx) in front of gunicorn, and that configuration bounds and buffers what reaches gunicorn.
"""
from __future__ import annotations

import re
import subprocess
import sys

import yaml

from tests.conftest import ROOT, _BASE_ENV

PRODUCTION = {"HELPLINE_ENV": "production", "HELPLINE_SECRET": "k9Q2-x7LmZp4Rt8Vw1Yb6Nc3Hd5Jf0Gs",
              "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32,
              "TWILIO_FROM_NUMBER": "+16125550100", "REDIS_URL": "redis://127.0.0.1:1/0"}


def test_the_worker_refuses_production_without_public_base_url_and_says_why():
    done = subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT,
                          env={**_BASE_ENV, **PRODUCTION}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "PUBLIC_BASE_URL is required" in done.stderr and "/sms/status" in done.stderr


def test_with_public_base_url_every_text_asks_for_delivery_reports(checkin_app, fake_twilio):
    from tests.conftest import Texter, drain
    from tests.test_reminders import advance, scheduled

    person = Texter(checkin_app.test_client(), "+16125550144")
    person.send("CHECK")
    person.send("YES")
    [at] = scheduled(checkin_app).values()
    advance(checkin_app, at)
    drain(checkin_app)

    [message] = fake_twilio.messages
    base = checkin_app.config["HELPLINE"].settings.public_base_url
    assert message.form["StatusCallback"] == base + "/sms/status"


def test_compose_puts_the_buffering_proxy_in_front_of_gunicorn():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    proxy, web = spec["services"]["proxy"], spec["services"]["web"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["environment"]["UPSTREAM"] == "web:8000"
    assert "ports" not in web and web["expose"] == ["8000"]
    assert spec["services"]["web"]["environment"]["PUBLIC_BASE_URL"].startswith(
        "${PUBLIC_BASE_URL:?")
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    assert re.search(r"^\s*read_header 5s$", caddy, re.M)
    assert re.search(r"^\s*read_body 5s$", caddy, re.M)
    assert re.search(r"^\s*max_size 64KB$", caddy, re.M)  # the app's MAX_CONTENT_LENGTH
    assert re.search(r"^\s*buffer_requests$", caddy, re.M)
    # the nginx alternative keeps the same bounds
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    settings = dict(re.findall(r"^\s*(\w+)\s+([^;{]+);", conf, re.M))
    assert settings["client_body_timeout"] == "5s" and settings["client_header_timeout"] == "5s"
    assert settings["client_max_body_size"] == "64k"  # the app's MAX_CONTENT_LENGTH
    assert settings["proxy_request_buffering"] == "on"
    assert settings["server"] == "web:8000"
