"""Issue 25, item 3: a captured signed request, reshaped, is refused or changes nothing.

Twilio's signature is an HMAC over the URL and each parameter's name and value joined with no
separator, so fields can be folded into each other and the signature still validates. The
attack: fold `MessageSid` into the value of the field before it; the form then has no
MessageSid, so no duplicate check, and each replay advanced the conversation. Each reshaped form
here is checked to carry the captured request's exact signature before it is sent.
"""
from __future__ import annotations

import pytest

from bot import create_app
from bot.storage.keys import call_key, session_key
from tests.conftest import make_settings, message_texts
from tests.signing import BASE_URL, new_sid, post_signed, signature
from tests.test_voice import Caller
from tests.twilio_server import ACCOUNT_SID

NUMBER = "+16125557381"


def captured_sms(body: str) -> dict:
    """A text as Twilio posts it, with the fields its real webhooks carry."""
    sid = new_sid()
    return {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "Body": body,
            "From": NUMBER, "FromCity": "DULUTH", "FromCountry": "US", "FromState": "MN",
            "FromZip": "55802", "MessageSid": sid, "NumMedia": "0", "NumSegments": "1",
            "SmsMessageSid": sid, "SmsSid": sid, "SmsStatus": "received",
            "To": "+16125550100", "ToCountry": "US"}


def fold(form: dict, names: set[str]) -> dict:
    """Each named field, name and value, moved into the value of the field sorted before it:
    the string Twilio signs stays the same, the form does not."""
    out: list[list[str]] = []
    for name, value in sorted(form.items()):
        if name in names and out:
            out[-1][1] += name + value
        else:
            out.append([name, value])
    return dict(map(tuple, out))


def same_signature(path: str, original: dict, reshaped: dict) -> bool:
    return (reshaped != original
            and signature(BASE_URL + path, reshaped) == signature(BASE_URL + path, original))


def test_a_reshaped_text_without_its_message_sid_is_refused_and_changes_nothing(
        client, helpline):
    first = captured_sms("2")
    answered = post_signed(client, "/sms", first)
    assert answered.status_code == 200
    session = helpline.redis.get(session_key(helpline.vault.subject(NUMBER)))
    dropped = fold(first, {"MessageSid", "NumMedia", "NumSegments", "SmsMessageSid", "SmsSid"})
    assert "MessageSid" not in dropped and "SmsSid" not in dropped
    assert same_signature("/sms", first, dropped)

    for _ in range(3):  # the attack replayed it; each time it was a new message
        response = post_signed(client, "/sms", dropped)
        assert response.status_code == 400
        assert "Missing 'MessageSid'" in response.get_data(as_text=True)
    assert helpline.redis.get(session_key(helpline.vault.subject(NUMBER))) == session


def test_a_message_sid_grown_by_folding_is_refused(client):
    first = captured_sms("hi")
    grown = fold(first, {"NumMedia"})  # MessageSid is now "SM...NumMedia0": a new message id
    assert same_signature("/sms", first, grown)

    response = post_signed(client, "/sms", grown)

    assert response.status_code == 400 and "Malformed 'MessageSid'" in response.get_data(as_text=True)


def test_a_reshape_that_keeps_the_message_sid_is_a_duplicate_and_advances_nothing(
        client, helpline):
    first = captured_sms("2")
    reply = message_texts(post_signed(client, "/sms", first).get_data(as_text=True))
    session = helpline.redis.get(session_key(helpline.vault.subject(NUMBER)))
    kept = fold(first, {"NumSegments", "SmsStatus"})
    assert kept["MessageSid"] == first["MessageSid"] and same_signature("/sms", first, kept)

    response = post_signed(client, "/sms", kept)

    assert message_texts(response.get_data(as_text=True)) == reply  # the stored reply
    assert helpline.redis.get(session_key(helpline.vault.subject(NUMBER))) == session


def test_a_reshaped_call_step_is_refused_or_answered_from_the_record(client, helpline):
    caller = Caller(client, NUMBER)
    caller.start()
    url = caller.gather().get("action")
    form = {"AccountSid": ACCOUNT_SID, "CallSid": caller.sid, "CallStatus": "in-progress",
            "Digits": "2", "Direction": "inbound", "From": NUMBER, "To": "+16125550100"}
    answered = post_signed(client, url, form)
    record = helpline.redis.get(call_key(helpline.vault.token(caller.sid)))

    digits = fold(form, {"Direction"})  # Digits "2Directioninbound": still the key 2
    grown = fold(form, {"CallStatus"})  # CallSid "CA...CallStatusin-progress"
    dropped = fold(form, {"CallSid"})  # no CallSid (the AccountSid before it takes it)
    assert all(same_signature(url, form, f) for f in (digits, grown, dropped))

    assert post_signed(client, url, digits).get_data() == answered.get_data()  # stored answer
    for reshaped in (grown, dropped):
        assert post_signed(client, url, reshaped).status_code == 400
    assert helpline.redis.get(call_key(helpline.vault.token(caller.sid))) == record


@pytest.mark.parametrize("path, form", [
    ("/sms", {"From": NUMBER, "Body": "hi", "AccountSid": ACCOUNT_SID}),
    ("/voice", {"From": NUMBER, "AccountSid": ACCOUNT_SID}),
    ("/voice/step?n=0&at=main&lang=en", {"From": NUMBER, "Digits": "1",
                                         "AccountSid": ACCOUNT_SID}),
    ("/voice/dial?n=0&at=talk&lang=en", {"From": NUMBER, "DialCallStatus": "busy",
                                         "AccountSid": ACCOUNT_SID}),
])
def test_a_webhook_without_its_message_or_call_sid_is_400_and_says_which(
        client, redis_client, path, form):
    response = post_signed(client, path, form)

    assert response.status_code == 400
    assert ("'MessageSid'" if path == "/sms" else "'CallSid'") in response.get_data(as_text=True)
    assert redis_client.dbsize() == 0


@pytest.fixture()
def account_app(redis_url, redis_client):
    return create_app(make_settings(redis_url, TWILIO_ACCOUNT_SID="AC" + "ab" * 16))


@pytest.mark.parametrize("account, status, says", [
    ("AC" + "ab" * 16, 200, ""),
    (ACCOUNT_SID, 403, "not this helpline's Twilio account"),
    ("", 400, "Missing 'AccountSid'"),
    ("AC123", 400, "Malformed 'AccountSid'"),
])
def test_the_account_sid_must_be_this_helplines_when_one_is_set(
        account_app, redis_client, account, status, says):
    form = {"From": NUMBER, "Body": "hi", "MessageSid": new_sid(), "AccountSid": account}

    response = post_signed(account_app.test_client(), "/sms", form)

    assert response.status_code == status and says in response.get_data(as_text=True)
    assert (redis_client.dbsize() == 0) == (status != 200)
