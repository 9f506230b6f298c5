"""Issue 19, items 3 and 4: no outbound text goes out twice after an ambiguous failure.

3. "Text me this" (press 8 on a call) retried after a Twilio timeout without looking first, so a
   text Twilio had created went out again. Every outbound text now goes through
   bot/outbound/delivery.py's markers and look-up.
4. An HTML 502/503/504 from a gateway reached the twilio client as an error whose code was the
   HTTP status, and delivery took it for a definite refusal: it sent again without a look-up.
Real RQ workers, the real twilio client, the local Twilio-compatible server (which can now
answer like a gateway, before or after creating the message).
"""
from __future__ import annotations

import pytest
from rq.registry import ScheduledJobRegistry

from bot.checkins.subscriptions import Subscriptions
from bot.outbound.delivery import DONE, RETRY, SENT, Attempt, deliver
from bot.outbound.sender import TwilioSender
from bot.privacy.vault import Vault
from bot.storage.ratelimit import TokenBucket
from tests.conftest import Texter, drain
from tests.test_jobs import texts_to
from tests.test_reminders import advance, scheduled
from tests.test_voice_text import (caller_at, client, env, helpline, queue,  # noqa: F401
                                   run_worker, server, texting_app)
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.waiting import wait_until


def retry_now(queue) -> None:
    """RQ's retry interval, skipped: the scheduled retry is queued now."""
    registry = ScheduledJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()
    registry.requeue(job_id)


def test_text_me_this_is_looked_up_not_resent_after_twilio_answers_too_late(
        client, queue, server, monkeypatch):
    monkeypatch.setenv("TWILIO_TIMEOUT_SECONDS", "0.3")
    caller_at(client, "overdose").press("8")
    server.delay_next(1.0)  # Twilio creates the text but answers after the client gave up

    run_worker(queue)
    wait_until(lambda: len(server.messages) == 1, "the late message at the local Twilio")
    retry_now(queue)
    run_worker(queue)

    assert len(server.messages) == 1
    assert [r.method for r in server.requests] == ["POST", "GET"]  # looked, did not resend


@pytest.mark.parametrize("status", [502, 503, 504])
def test_text_me_this_after_a_gateway_error_page_is_looked_up_not_resent(
        client, queue, server, status):
    caller_at(client, "naloxone_safe").press("8")
    server.gateway_error_next(status, created=True)

    run_worker(queue)
    retry_now(queue)
    run_worker(queue)

    assert len(server.messages) == 1
    assert [r.method for r in server.requests] == ["POST", "GET"]


def test_a_gateway_error_before_twilio_saw_it_is_sent_once_after_the_look_up(
        client, queue, server):
    caller_at(client, "overdose").press("8")
    server.gateway_error_next(502, created=False)

    run_worker(queue)
    retry_now(queue)
    run_worker(queue)

    assert len(server.messages) == 1
    assert [r.method for r in server.requests] == ["GET", "POST"]  # nothing found, then sent


def test_a_checkin_after_a_gateway_502_is_looked_up_not_resent(redis_client, server):
    subs = Subscriptions(redis_client, Vault("a-test-secret-" * 3))
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number="+16125550100",
                          api_base_url=server.base_url, timeout=2)
    bucket = TokenBucket(redis_client, "test:bucket", rate=1000)
    attempt = Attempt("g" * 32, "2025-03-04-morning", "+16125550128", "Checking in. Reply 1")
    server.reset()
    server.gateway_error_next(502, created=True)

    outcome, result = deliver(subs, sender, bucket, attempt)
    assert outcome == RETRY and result.error_code is None and not result.definite
    assert subs.marker(attempt.subject, attempt.slot).startswith("pending:")  # kept: ambiguous
    assert deliver(subs, sender, bucket, attempt)[0] == DONE

    assert len(server.messages) == 1
    assert subs.marker(attempt.subject, attempt.slot) == f"sent:{server.messages[0].sid}"


def test_a_twilio_refusal_with_its_code_is_definite_and_sent_again_without_a_look_up(
        redis_client, server):
    subs = Subscriptions(redis_client, Vault("a-test-secret-" * 3))
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number="+16125550100",
                          api_base_url=server.base_url, timeout=2)
    bucket = TokenBucket(redis_client, "test:bucket", rate=1000)
    attempt = Attempt("h" * 32, "2025-03-04-morning", "+16125550129", "Checking in. Reply 1")
    server.reset()
    server.fail_next(status=400, code=21611, message="This 'From' number has exceeded the queue")

    outcome, result = deliver(subs, sender, bucket, attempt)
    assert outcome == RETRY and result.error_code == 21611 and result.definite
    assert subs.marker(attempt.subject, attempt.slot) is None
    assert deliver(subs, sender, bucket, attempt)[0] == SENT
    assert [r.method for r in server.requests] == ["POST", "POST"]


def test_a_reminder_after_a_gateway_502_goes_out_once(checkin_app, fake_twilio):
    person = Texter(checkin_app.test_client(), "+16125550141")
    person.send("4")
    person.send("6")
    person.send("YES")
    [at] = scheduled(checkin_app).values()
    advance(checkin_app, at)
    fake_twilio.gateway_error_next(502, created=True)

    drain(checkin_app)  # the job answers RQ's Retry
    registry = ScheduledJobRegistry("outbound", connection=checkin_app.config["HELPLINE"].redis)
    for job_id in registry.get_job_ids():
        registry.requeue(job_id)
    drain(checkin_app)

    assert len(texts_to(fake_twilio, person.number)) == 1
    assert [r.method for r in fake_twilio.requests] == ["POST", "GET"]


def test_check_on_me_after_a_gateway_504_goes_out_once(checkin_app, fake_twilio):
    person = Texter(checkin_app.test_client(), "+16125550142")
    person.send("CHECK")
    assert "we will text you" in person.send("YES")
    [at] = scheduled(checkin_app).values()
    advance(checkin_app, at)
    fake_twilio.gateway_error_next(504, created=True)

    drain(checkin_app)
    registry = ScheduledJobRegistry("outbound", connection=checkin_app.config["HELPLINE"].redis)
    for job_id in registry.get_job_ids():
        registry.requeue(job_id)
    drain(checkin_app)

    assert len(texts_to(fake_twilio, person.number)) == 1
