"""Worker faults: Twilio answering 429, then 500, for a stretch of every request, then timing out
after it took the text, then refusing for longer than every retry. Real RQ workers in burst mode,
the real twilio client against tests/twilio_server.FakeTwilio; time moves by letting each
backoff pass at once and by `checkins dispatch --at`, never by sleeping. Every check-in goes out
exactly once. (A worker SIGKILLed mid-job: tests/test_jobs_crash.py.)
"""
from __future__ import annotations

from datetime import timedelta

from rq.registry import FailedJobRegistry

from bot.checkins import jobs
from bot.outbound.sender import TwilioSender
from tests.conftest import drain
from tests.waiting import wait_until
from tests.signing import BASE_URL
from tests.test_jobs import Person, dispatch, texts_to
from tests.test_privacy import release_scheduled
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN

PEOPLE = 6
TIMEOUT = 0.5  # the client gives up on Twilio after this (10 s in production)


def work(app, fake) -> None:
    """`python worker.py --burst` in this process, with a Twilio client that gives up sooner."""
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number="+16125550100",
                          api_base_url=fake.base_url, timeout=TIMEOUT,
                          status_callback_url=BASE_URL + "/sms/status")
    drain(app, sender)


def posts(fake, status: int) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.status == status)


def due_people(app, first: int):
    people = [Person(app, f"+161255576{first + n:02d}") for n in range(PEOPLE)]
    at = max(p.due for p in people) + timedelta(minutes=1)
    assert "enqueued" in dispatch(app, at)
    return people, at


def test_429_then_500_for_a_stretch_then_timeouts_every_check_in_goes_out_once(
        checkin_app, fake_twilio):
    people, at = due_people(checkin_app, 0)
    redis_ = people[0].helpline.redis

    fake_twilio.fail_next(status=429, times=PEOPLE)  # "too many requests", to every attempt
    work(checkin_app, fake_twilio)
    assert posts(fake_twilio, 429) == PEOPLE and fake_twilio.messages == []

    fake_twilio.fail_next(status=500, times=PEOPLE)  # then Twilio itself is failing
    release_scheduled(redis_)
    work(checkin_app, fake_twilio)
    assert posts(fake_twilio, 500) == PEOPLE and fake_twilio.messages == []

    fake_twilio.delay_next(2 * TIMEOUT, times=PEOPLE // 2)  # it takes these, answers too late
    release_scheduled(redis_)
    work(checkin_app, fake_twilio)
    wait_until(lambda: len(fake_twilio.messages) == PEOPLE, "Twilio to create the late ones")

    release_scheduled(redis_)
    work(checkin_app, fake_twilio)  # the timed-out ones are looked up, found, not sent again

    for person in people:
        assert len(texts_to(fake_twilio, person.number)) == 1, person.number
        assert person.sub.inflight == "" and person.sub.count == 1
    assert any(r.method == "GET" for r in fake_twilio.requests)
    assert "nothing due" in dispatch(checkin_app, at + jobs.LEASE + timedelta(minutes=1))
    work(checkin_app, fake_twilio)
    assert len(fake_twilio.messages) == PEOPLE


def test_twilio_down_longer_than_every_retry_the_lease_brings_them_back_once(
        checkin_app, fake_twilio):
    people, at = due_people(checkin_app, 10)
    redis_ = people[0].helpline.redis
    fake_twilio.fail_next(status=500, times=PEOPLE * (len(jobs.BACKOFF) + 1))
    work(checkin_app, fake_twilio)
    for _ in jobs.BACKOFF:
        release_scheduled(redis_)
        work(checkin_app, fake_twilio)
    assert fake_twilio.messages == [] and posts(fake_twilio, 500) == PEOPLE * 5
    assert FailedJobRegistry(jobs.SEND_QUEUE, connection=redis_).count >= 1  # RQ gave up

    assert "recovered" in dispatch(checkin_app, at + jobs.LEASE + timedelta(minutes=1))
    work(checkin_app, fake_twilio)

    assert sorted(m.form["To"] for m in fake_twilio.messages) == sorted(p.number for p in people)
    assert "recovered" not in dispatch(checkin_app, at + 2 * jobs.LEASE + timedelta(minutes=2))
    work(checkin_app, fake_twilio)
    assert len(fake_twilio.messages) == PEOPLE
