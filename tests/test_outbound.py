"""Outbound SMS through the real twilio client against a local Twilio-compatible server."""
from __future__ import annotations

import logging

import pytest

from bot.outbound.sender import ConsoleSender, SendResult, TwilioSender, build_sender, mask_number
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN, running_server

TO = "+15551230123"
FROM = "+16125550100"
SERVICE = "MG" + "a" * 32
CALLBACK = "https://help.example.org/sms/status"


@pytest.fixture
def server():
    yield from running_server()


@pytest.fixture
def sender(server):
    s = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number=FROM, api_base_url=server.base_url,
                     status_callback_url=CALLBACK, timeout=2)
    yield s
    s.close()


def assert_no_number(text: str) -> None:
    assert TO not in text and TO[2:] not in text


def test_send_reaches_twilio_with_recipient_body_sender_and_callback(server, sender):
    result = sender.send(TO, "Naloxone: spray in one nostril. Call 911.")

    assert result.ok and not result.permanent and not result.retryable
    [msg] = server.messages
    assert result.sid == msg.sid and result.sid.startswith("SM") and len(result.sid) == 34
    assert msg.form["To"] == TO
    assert msg.form["From"] == FROM
    assert msg.form["Body"] == "Naloxone: spray in one nostril. Call 911."
    assert msg.form["StatusCallback"] == CALLBACK
    assert "MessagingServiceSid" not in msg.form


def test_messaging_service_is_used_instead_of_a_from_number(server):
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number=FROM, messaging_service_sid=SERVICE,
                          api_base_url=server.base_url)

    assert sender.send(TO, "Check-in: reply 1 if you are OK.").ok
    [msg] = server.messages
    assert msg.form["MessagingServiceSid"] == SERVICE
    assert "From" not in msg.form and "StatusCallback" not in msg.form


def test_wrong_auth_token_is_a_permanent_configuration_error(server):
    sender = TwilioSender(ACCOUNT_SID, "wrong-token", from_number=FROM, api_base_url=server.base_url)

    result = sender.send(TO, "hello")

    assert not result.ok and result.permanent and not result.retryable
    assert result.error_code == 20003
    assert server.requests[-1].status == 401 and server.messages == []


def test_rate_limit_is_retryable_and_clears(server, sender):
    server.fail_next(status=429, code=20429, times=2)

    first, second, third = (sender.send(TO, "hi") for _ in range(3))

    for result in (first, second):
        assert not result.ok and result.retryable and not result.permanent
        assert result.error_code == 20429
    assert third.ok and len(server.messages) == 1


def test_twilio_server_error_is_retryable(server, sender):
    server.fail_next(status=500)

    result = sender.send(TO, "hi")

    assert not result.ok and result.retryable and not result.permanent
    assert result.error_code == 20500 and "HTTP 500" in result.detail


def test_opted_out_recipient_is_permanent_with_code_21610(server, sender):
    server.fail_to(TO, status=400, code=21610, message="Attempt to send to unsubscribed recipient")

    result = sender.send(TO, "Weekly check-in")

    assert not result.ok and result.permanent and not result.retryable
    assert result.error_code == 21610 and result.sid is None
    assert sender.send("+15559870000", "Weekly check-in").ok  # other people still get texts


def test_invalid_number_error_that_quotes_the_number_is_scrubbed(server, sender):
    server.fail_next(status=400, code=21211, message=f"The 'To' number {TO} is not a valid phone number.")

    result = sender.send(TO, "hi")

    assert result.permanent and result.error_code == 21211
    assert "not a valid phone number" in result.detail
    assert_no_number(result.detail)


def test_answer_slower_than_timeout_is_retryable(server):
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number=FROM, api_base_url=server.base_url,
                          timeout=0.3)
    server.delay_next(1.0)

    result = sender.send(TO, "hi")

    assert not result.ok and result.retryable and not result.permanent
    assert "may have been accepted" in result.detail
    assert sender.send(TO, "hi again").ok  # the sender recovers once Twilio answers


def test_unreachable_twilio_is_retryable(server):
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number=FROM, api_base_url=server.base_url)
    server.stop()

    result = sender.send(TO, "hi")

    assert not result.ok and result.retryable and result.error_code is None


def test_logs_and_details_never_hold_the_phone_number(server, caplog):
    caplog.set_level(logging.DEBUG)
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number=FROM, api_base_url=server.base_url,
                          timeout=0.3)
    server.fail_next(status=400, code=21614, message=f"{TO} is not a mobile number")
    server.fail_next(status=500)
    server.delay_next(1.0)

    results = [sender.send(TO, "hi") for _ in range(4)]

    assert [r.ok for r in results] == [False, False, False, True]
    for result in results:
        assert_no_number(result.detail)
    assert caplog.records, "failures should be logged for operators"
    for record in caplog.records:
        assert_no_number(record.getMessage())
    assert any(mask_number(TO) in record.getMessage() for record in caplog.records)


def test_console_sender_keeps_the_text_and_logs_it_masked(caplog):
    caplog.set_level(logging.INFO, logger="bot.outbound.sender")
    console = ConsoleSender()

    result = console.send(TO, "Good Samaritan law protects you when you call 911.")

    assert result == SendResult(True, sid=result.sid, detail=result.detail)
    assert result.sid.startswith("SM")
    assert [(m.to, m.body) for m in console.sent] == [(TO, "Good Samaritan law protects you when you call 911.")]
    assert [r.getMessage() for r in caplog.records] == [
        "SMS to +1******0123: Good Samaritan law protects you when you call 911."]


def test_mask_number_shows_only_country_digit_and_last_four():
    assert mask_number(TO) == "+1******0123"
    assert mask_number("whatsapp:+15551230123") == "whatsapp:+1******0123"
    assert mask_number("") == "" and mask_number(None) == ""
    assert "5551" not in mask_number("5551230")


def test_build_sender_uses_twilio_only_when_fully_configured(server):
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_FROM_NUMBER": FROM, "TWILIO_API_BASE_URL": server.base_url,
           "PUBLIC_BASE_URL": "https://help.example.org/"}

    sender = build_sender(env)

    assert isinstance(sender, TwilioSender)
    assert sender.send(TO, "hi").ok
    assert server.messages[0].form["StatusCallback"] == "https://help.example.org/sms/status"
    assert isinstance(build_sender({**env, "TWILIO_FROM_NUMBER": ""}), ConsoleSender)
    assert isinstance(build_sender({**env, "TWILIO_AUTH_TOKEN": ""}), ConsoleSender)
    assert isinstance(build_sender({}), ConsoleSender)


def test_sender_without_a_from_number_or_service_is_refused():
    with pytest.raises(ValueError, match="TWILIO_FROM_NUMBER"):
        TwilioSender(ACCOUNT_SID, AUTH_TOKEN)
