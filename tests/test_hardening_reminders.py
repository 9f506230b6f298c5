"""Issue 19, item 8: a time the person named is kept, at night too, and the reply says so.

Quiet hours are for texts the person did not time: recurring check-ins and YES's "tomorrow
morning" default (tests/test_reminders.py). "Check on me in an hour" at 11 pm, or a reminder
"in 2 hours", once became tomorrow 8 am. The real webhook, RQ's scheduled registry and a
`python worker.py --burst` whose clock is inside quiet hours, the local Twilio server.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot import create_app
from tests.conftest import Texter, make_settings, run_worker
from tests.test_jobs import texts_to
from tests.test_reminders import CHECK_TEXT, advance, local, scheduled

NUMBER = "+16125550143"


def quiet_from_now(worker_env: dict) -> dict:
    """Quiet hours that began this hour and last three: it is "night" now and for a while."""
    tz = make_settings(worker_env["REDIS_URL"]).tz
    hour = datetime.now(tz).hour
    return {**worker_env, "QUIET_HOURS_START": str(hour), "QUIET_HOURS_END": str((hour + 3) % 24)}


def test_check_on_me_at_night_is_in_an_hour_as_asked(redis_client, worker_env, fake_twilio):
    env = quiet_from_now(worker_env)
    app = create_app(make_settings(env["REDIS_URL"], **env))
    person = Texter(app.test_client(), NUMBER)
    person.send("he is not breathing")

    confirmation = person.send("CHECK")

    assert confirmation.startswith("As you asked, we will text you")
    [at] = scheduled(app).values()
    assert abs(at - datetime.now(timezone.utc) - timedelta(hours=1)) < timedelta(minutes=2)
    advance(app, at)
    run_worker(env)  # the worker's clock is inside the quiet hours
    [text] = texts_to(fake_twilio, NUMBER)
    assert CHECK_TEXT in text


def test_a_reminder_at_a_named_time_at_night_is_sent_then(redis_client, worker_env, fake_twilio):
    env = quiet_from_now(worker_env)
    app = create_app(make_settings(env["REDIS_URL"], **env))
    person = Texter(app.test_client(), NUMBER)
    person.send("4")
    person.send("6")

    confirmation = person.send("in 2 hours")

    assert confirmation.startswith("As you asked, we will text you")
    [at] = scheduled(app).values()
    expected = datetime.now(timezone.utc) + timedelta(hours=2)
    assert abs(at - expected) < timedelta(minutes=2), local(app, at)
    advance(app, at)
    run_worker(env)
    assert len(texts_to(fake_twilio, NUMBER)) == 1


def test_a_spanish_check_at_night_says_so_in_spanish(redis_client, worker_env):
    env = quiet_from_now(worker_env)
    app = create_app(make_settings(env["REDIS_URL"], **env))
    person = Texter(app.test_client(), NUMBER)
    person.send("ESPANOL")
    person.send("no respira")

    assert person.send("CHECAR").startswith("Como pediste, te escribimos")
