"""Reminders end to end: offers and answers through the real signed /sms webhook, RQ's scheduler and
real burst workers (`python worker.py --burst` and an in-process worker), the twilio client
against the local Twilio-compatible server. Time moves through the scheduler, never by sleeping:
advance() makes due what RQ's scheduler would enqueue at a given time."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from bot import create_app

from bot.understanding import when
from bot.checkins.dispatch import SEND_QUEUE
from bot.storage.keys import reminder_record_key as record_key
from bot.storage.keys import session_key
from tests.conftest import Texter, drain, make_settings, run_worker
from tests.signing import new_sid
from tests.test_jobs import texts_to

NUMBER = "+16125550140"
OFFER = "Want these numbers texted to you tomorrow morning? Reply YES"
CHECK_TEXT = "checking on you after earlier. Reply 1 all OK, 2 need help"


def registry(app) -> ScheduledJobRegistry:
    return ScheduledJobRegistry(SEND_QUEUE, connection=app.config["HELPLINE"].redis)


def scheduled(app) -> dict[str, datetime]:
    """Reminder jobs in RQ's scheduled registry and when each is due."""
    reg = registry(app)
    return {job_id: reg.get_scheduled_time(job_id) for job_id in reg.get_job_ids()
            if job_id.startswith("reminder-")}


def advance(app, to: datetime) -> int:
    """Time passes until `to`: the jobs RQ's scheduler would enqueue at `to` are due now."""
    reg = registry(app)
    due = reg.get_jobs_to_schedule(int(to.timestamp()))
    redis = app.config["HELPLINE"].redis
    for job_id in due:
        reg.schedule(Job.fetch(job_id, connection=redis), datetime.now(timezone.utc))
    return len(due)


def record_count(app, number: str = NUMBER) -> int:
    helpline = app.config["HELPLINE"]
    return int(helpline.redis.hlen(record_key(helpline.vault.subject(number))))


def local(app, at: datetime) -> datetime:
    return at.astimezone(app.config["HELPLINE"].settings.tz)


@pytest.fixture()
def person(checkin_app):
    return Texter(checkin_app.test_client(), NUMBER)


def test_yes_books_one_text_for_tomorrow_9am_which_goes_out_once_at_that_time(
        checkin_app, worker_env, fake_twilio, person):
    person.send("4")
    assert OFFER in person.send("6")
    sid = new_sid()
    confirmation = person.send("YES", sid)
    assert "we will text you the treatment numbers" in confirmation
    assert "at 9 am. To cancel, text REMINDERS" in confirmation
    assert person.send("YES", sid) == confirmation  # Twilio retries the webhook
    assert person.send("yes") == confirmation       # the person says it again

    [at] = scheduled(checkin_app).values()
    now = datetime.now(timezone.utc)
    assert at == when.default(now, checkin_app.config["HELPLINE"].settings.tz)
    assert local(checkin_app, at).time() == time(9, 0) and at > now
    assert advance(checkin_app, at - timedelta(minutes=1)) == 0
    run_worker(worker_env)
    assert fake_twilio.messages == []  # not before its time
    assert advance(checkin_app, at) == 1
    run_worker(worker_env)  # `python worker.py --burst`, its scheduler enqueues the due job
    drain(checkin_app)      # another worker finds nothing left

    [text] = texts_to(fake_twilio, NUMBER)
    assert text.startswith("Your reminder from MN Overdose Help Line:\nFind a program:")
    assert "1-800-662-4357" in text and "findtreatment.gov" in text
    assert record_count(checkin_app) == 0  # sent: the record and its encrypted number are gone
    assert "You have no reminders" in person.send("REMINDERS")


def test_the_reply_numbers_in_a_reminder_work_when_it_arrives(checkin_app, fake_twilio, person):
    person.send("talk to someone")
    person.send("in 2 hours")
    [at] = scheduled(checkin_app).values()
    helpline = checkin_app.config["HELPLINE"]
    helpline.redis.delete(session_key(helpline.vault.subject(NUMBER)))  # the session expired
    advance(checkin_app, at)
    drain(checkin_app)
    assert "Reply 1 find treatment" in texts_to(fake_twilio, NUMBER)[0]
    assert "Find a program" in person.send("1")


def test_the_nearest_places_come_again_and_more_pages_on(checkin_app, fake_twilio, person):
    screen = person.send("naloxone near 55811")
    assert "Naloxone near 55811" in screen and OFFER in screen
    places = [line for line in screen.splitlines() if re.match(r"[A-Z]{1,2}\. ", line)]
    assert len(places) == 3
    confirmation = person.send("in 2 hours")
    assert "we will text you the places to get naloxone" in confirmation
    [at] = scheduled(checkin_app).values()
    assert abs(at - datetime.now(timezone.utc) - timedelta(hours=2)) < timedelta(minutes=2)

    advance(checkin_app, at)
    drain(checkin_app)
    [text] = texts_to(fake_twilio, NUMBER)
    assert "Naloxone near 55811" in text and all(place in text for place in places)
    more = [line for line in person.send("MORE").splitlines() if re.match(r"[A-Z]{1,2}\. ", line)]
    assert more and not set(more) & set(places)  # "Reply MORE" pages on from that place


def test_a_reminder_in_quiet_hours_moves_to_the_morning_and_says_so(
        redis_client, worker_env, fake_twilio):
    """Quiet hours move a time the person did not name: YES's "tomorrow morning" default
    (a time they named is kept: tests/test_hardening_reminders.py)."""
    tz = make_settings(worker_env["REDIS_URL"]).tz
    default = when.default(datetime.now(timezone.utc), tz)
    start = (default.astimezone(tz) - timedelta(hours=1)).hour
    quiet = {"QUIET_HOURS_START": str(start), "QUIET_HOURS_END": str((start + 2) % 24)}
    app = create_app(make_settings(worker_env["REDIS_URL"], **{**worker_env, **quiet}))
    person = Texter(app.test_client(), NUMBER)
    person.send("4")
    person.send("6")

    confirmation = person.send("YES")  # tomorrow morning's default is inside the quiet hours

    assert confirmation.startswith("We do not text at night, so we will text you")
    [at] = scheduled(app).values()
    assert local(app, at).hour == (start + 2) % 24 and local(app, at).minute == 0
    assert f"at {(start + 2) % 24 % 12 or 12} " in confirmation


def test_a_reminder_due_when_quiet_hours_began_meanwhile_waits_for_their_end(
        checkin_app, worker_env, fake_twilio, person):
    person.send("4")
    person.send("6")
    person.send("YES")  # tomorrow morning's default: a time the person did not name
    [(first, at)] = scheduled(checkin_app).items()
    advance(checkin_app, at)
    tz = checkin_app.config["HELPLINE"].settings.tz
    hour = datetime.now(tz).hour
    quiet = {"QUIET_HOURS_START": str(hour), "QUIET_HOURS_END": str((hour + 2) % 24)}

    run_worker({**worker_env, **quiet})  # the worker's clock is inside quiet hours now

    assert fake_twilio.messages == []
    [(job_id, later)] = scheduled(checkin_app).items()
    assert job_id != first and local(checkin_app, later).hour == (hour + 2) % 24
    assert record_count(checkin_app) == 1


def test_reminders_lists_them_in_plain_words_and_1_cancels_them_all(
        checkin_app, fake_twilio, person):
    person.send("4")
    person.send("6")
    person.send("tomorrow 10am")
    person.send("he is not breathing")
    person.send("CHECK")
    jobs = scheduled(checkin_app)
    assert len(jobs) == 2

    listing = person.send("REMINDERS")
    assert "- The treatment numbers, " in listing and "at 10 am" in listing
    assert "- A text to check on you, " in listing and "Reply 1 to cancel them all" in listing
    assert "reminders are cancelled" in person.send("1")

    redis = checkin_app.config["HELPLINE"].redis
    assert scheduled(checkin_app) == {} and not any(Job.exists(j, connection=redis) for j in jobs)
    assert record_count(checkin_app) == 0
    assert advance(checkin_app, datetime.now(timezone.utc) + timedelta(days=8)) == 0
    drain(checkin_app)
    assert fake_twilio.messages == []


@pytest.mark.parametrize("word", ["CANCEL", "STOP", "cancelar"])
def test_cancel_or_any_opt_out_word_opts_out_and_cancels_every_reminder(
        checkin_app, fake_twilio, person, word):
    person.send("talk")
    person.send("YES")
    person.send("he is not breathing")
    person.send("CHECK")
    assert len(scheduled(checkin_app)) == 2

    reply = person.send(word)
    assert "unsubscribed" in reply or "cancelaste los mensajes" in reply
    assert scheduled(checkin_app) == {} and record_count(checkin_app) == 0
    person.send("CHECK")  # nothing can be booked for someone who opted out
    person.send("tonight")
    assert scheduled(checkin_app) == {}
    drain(checkin_app)
    assert fake_twilio.messages == []


def test_an_opt_out_that_wins_the_race_with_the_send_stops_it(checkin_app, fake_twilio, person):
    person.send("talk")
    person.send("YES")
    [at] = scheduled(checkin_app).values()
    helpline = checkin_app.config["HELPLINE"]
    helpline.store.set_opted_out(helpline.vault.subject(NUMBER), True)  # STOP, seen by Twilio only
    advance(checkin_app, at)
    drain(checkin_app)
    assert fake_twilio.messages == [] and record_count(checkin_app) == 0


def test_a_reminder_after_forget_never_goes_out(checkin_app, fake_twilio, person):
    person.send("4")
    person.send("6")
    person.send("YES")
    person.send("my friend overdosed")
    person.send("CHECK")
    jobs = scheduled(checkin_app)
    helpline = checkin_app.config["HELPLINE"]
    subject = helpline.vault.subject(NUMBER)
    reminders = helpline.extras["reminders"]
    assert reminders.forget in helpline.extras["forgetters"]

    assert reminders.forget(subject) >= 2

    assert scheduled(checkin_app) == {} and list(helpline.redis.scan_iter("hl:rm:*")) == []
    assert not any(Job.exists(j, connection=helpline.redis) for j in jobs)
    advance(checkin_app, datetime.now(timezone.utc) + timedelta(days=8))
    drain(checkin_app)
    assert fake_twilio.messages == []


def test_a_changed_time_replaces_the_reminder_instead_of_adding_one(
        checkin_app, fake_twilio, person):
    person.send("4")
    person.send("6")
    person.send("YES")
    [first] = scheduled(checkin_app)
    assert "at 8 pm" in person.send("tomorrow at 8 pm")
    [second] = scheduled(checkin_app)
    assert second != first and record_count(checkin_app) == 1
    advance(checkin_app, datetime.now(timezone.utc) + timedelta(days=3))
    drain(checkin_app)
    assert len(texts_to(fake_twilio, NUMBER)) == 1


def test_no_phone_number_in_redis_or_in_reminder_jobs(checkin_app, fake_twilio, person):
    person.send("4")
    person.send("6")
    person.send("YES")
    person.send("not breathing")
    person.send("CHECK")
    redis = checkin_app.config["HELPLINE"].redis
    digits = NUMBER[2:]
    for job_id in scheduled(checkin_app):
        job = Job.fetch(job_id, connection=redis)
        assert digits not in repr(job.args) + repr(job.kwargs) + (job.description or "")
    for key in redis.scan_iter("*"):
        raw = {"string": lambda: [redis.get(key)], "hash": lambda: redis.hgetall(key).items(),
               "zset": lambda: redis.zrange(key, 0, -1), "set": lambda: redis.smembers(key),
               "list": lambda: redis.lrange(key, 0, -1)}.get(redis.type(key).decode(), list)()
        assert digits.encode() not in key and digits.encode() not in repr(list(raw)).encode()
