"""Issue 26, item 1: production never runs half-configured.

Every feature that texts people later (check-ins, reminders, "text me this") is either backed by
complete Twilio sending settings or switched off with OUTBOUND_TEXTS=off, and then never offered:
not in the menu, not under a screen, not by a key on the phone. Start-up says which in one line.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from rq import Queue

from bot import create_app
from bot.config import ConfigError, load_settings
from bot.outbound.sender import build_sender
from tests.conftest import ROOT, _BASE_ENV, Texter
from tests.signing import AUTH_TOKEN, BASE_URL
from tests.test_voice import Caller

SECRET = "k9Q2-x7LmZp4Rt8Vw1Yb6Nc3Hd5Jf0Gs"


def production(redis_url: str, **extra) -> dict:
    return {"HELPLINE_ENV": "production", "HELPLINE_SECRET": SECRET, "REDIS_URL": redis_url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": BASE_URL, **extra}


def test_production_refuses_to_start_with_sending_on_and_twilio_incomplete():
    with pytest.raises(ConfigError) as refused:
        load_settings(production("redis://127.0.0.1:1/0"))
    message = str(refused.value)
    assert "TWILIO_ACCOUNT_SID" in message and "TWILIO_FROM_NUMBER" in message
    assert "OUTBOUND_TEXTS=off" in message


def test_production_never_builds_a_sender_that_only_logs():
    with pytest.raises(RuntimeError, match="nothing can be sent"):
        build_sender({"HELPLINE_ENV": "production", "TWILIO_AUTH_TOKEN": AUTH_TOKEN})


def test_gunicorn_and_the_worker_say_in_one_line_whether_texts_go_out(redis_url):
    env = {**_BASE_ENV, **production(redis_url, OUTBOUND_TEXTS="off")}
    worker = subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert "outbound texts: off (OUTBOUND_TEXTS=off)" in worker.stderr
    on = load_settings(production(redis_url, TWILIO_ACCOUNT_SID="AC" + "0" * 32,
                                  TWILIO_FROM_NUMBER="+16125550100"))
    assert on.sending_line() == "outbound texts: on, through Twilio (number ending 0100)"


@pytest.fixture()
def quiet_app(redis_url, redis_client):
    """A production app with OUTBOUND_TEXTS=off and no Twilio sending settings at all."""
    return create_app(load_settings(production(redis_url, OUTBOUND_TEXTS="off")))


def test_with_texts_off_the_menu_offers_no_check_ins_and_7_is_not_an_option(quiet_app):
    person = Texter(quiet_app.test_client())
    menu = person.send("hi")
    assert "1 Overdose" in menu and "6 Talk to someone" in menu
    assert "Check-in" not in menu and "7 " not in menu
    assert person.send("7").startswith("That number is not")


def test_with_texts_off_the_check_in_words_say_this_line_sends_none(quiet_app, redis_client):
    person = Texter(quiet_app.test_client())
    assert "does not send check-in texts" in person.send("checkin")
    person.send("YES")
    assert not [k for k in redis_client.scan_iter("hl:ci:*") if b"sub" in k]


def test_with_texts_off_no_screen_offers_a_reminder_nor_a_check_after_the_steps(quiet_app,
                                                                                 redis_client):
    person = Texter(quiet_app.test_client())
    person.send("hi")
    screen = person.send("2")
    assert "tomorrow" not in screen.lower() and "texted to you" not in screen
    person.send("he is not breathing")
    follow = person.send("ok")
    assert "check on you" not in follow.lower() and "CHECK" not in follow
    person.send("CHECK")
    person.send("YES")
    assert not list(redis_client.scan_iter("hl:rm:*"))
    assert Queue("outbound", connection=redis_client).count == 0
    assert redis_client.zcard("rq:scheduled:outbound") == 0


def test_with_texts_off_a_call_never_hears_press_8_and_8_texts_nothing(quiet_app, redis_client):
    caller = Caller(quiet_app.test_client())
    caller.start()
    said = caller.press("2")
    assert "press 8" not in said and "text message" not in said
    caller.press("8")
    assert Queue("outbound", connection=redis_client).count == 0


def test_the_dispatcher_sends_nothing_with_texts_off(quiet_app):
    from bot.checkins import jobs

    rt = jobs.Runtime.of(quiet_app.config["HELPLINE"]).warm()  # builds no sender
    assert rt._sender is None
    assert jobs.dispatch(rt, jobs.utcnow()) == {"texts_off": 1}
