"""The /sms webhook as Twilio uses it: signatures, bad input, retries, races, Redis down."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot import create_app
from tests.conftest import Texter, make_settings, message_texts
from tests.signing import BASE_URL, new_sid, post_signed, signature, sms_form


def test_reply_is_twiml_with_one_message(client):
    response = post_signed(client, "/sms", sms_form("+16125550123", "hi"))
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    [text] = message_texts(response.get_data(as_text=True))
    assert "Reply with a number" in text


def test_missing_signature_is_403_and_touches_nothing(client, redis_client):
    response = client.post("/sms", data=sms_form("+16125550123", "hi"))
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.get_data(as_text=True)
    assert redis_client.dbsize() == 0


def test_forged_signature_is_403(client, redis_client):
    form = sms_form("+16125550123", "STOP")
    response = client.post("/sms", data=form,
                           headers={"X-Twilio-Signature": signature(BASE_URL + "/sms", form, "wrong")})
    assert response.status_code == 403
    assert redis_client.dbsize() == 0


def test_signature_for_another_url_is_403(client):
    form = sms_form("+16125550123", "hi")
    headers = {"X-Twilio-Signature": signature(BASE_URL + "/voice", form)}
    assert client.post("/sms", data=form, headers=headers).status_code == 403


def test_tampered_body_is_403(client):
    form = sms_form("+16125550123", "hi")
    headers = {"X-Twilio-Signature": signature(BASE_URL + "/sms", form)}
    form["Body"] = "STOP"
    assert client.post("/sms", data=form, headers=headers).status_code == 403


@pytest.mark.parametrize("missing", ["From", "Body"])
def test_missing_field_is_400_with_reason(client, missing):
    form = sms_form("+16125550123", "hi")
    del form[missing]
    response = post_signed(client, "/sms", form)
    assert response.status_code == 400
    assert missing in response.get_data(as_text=True)


def test_unknown_fields_are_ignored(texter):
    assert "Reply with a number" in texter.send("hi", SomeNewField="x", NumSegments="1")


def test_empty_body_gets_the_menu(texter):
    assert "Reply with a number" in texter.send("")


def test_huge_body_is_413(client):
    form = sms_form("+16125550123", "x" * 200_000)
    response = post_signed(client, "/sms", form)
    assert response.status_code == 413


def test_long_body_is_cut_and_answered(texter):
    reply = texter.send("narcan " + "a" * 1590 + " he is not breathing")
    assert "reverses an opioid overdose" in reply  # the part past 1,600 characters is not read


def test_non_utf8_body_gets_an_answer(client):
    """Bytes that are not UTF-8 stay as their %-escapes (werkzeug), and the message is answered."""
    sid, account = "SM" + "1" * 32, "AC" + "0" * 32
    body = (b"From=%2B16125550123&Body=%FF%FE%FA+narcan&MessageSid=" + sid.encode()
            + b"&AccountSid=" + account.encode())
    decoded = {"From": "+16125550123", "Body": "%FF%FE%FA narcan", "MessageSid": sid,
               "AccountSid": account}
    response = client.post("/sms", data=body, content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": signature(BASE_URL + "/sms", decoded)})
    assert response.status_code == 200
    assert "reverses an opioid overdose" in message_texts(response.get_data(as_text=True))[0]


def test_json_instead_of_a_form_is_400(client):
    response = client.post("/sms", data='{"From": "+1"}', content_type="application/json",
                           headers={"X-Twilio-Signature": signature(BASE_URL + "/sms", {})})
    assert response.status_code == 400
    assert "Missing 'AccountSid'" in response.get_data(as_text=True)


def test_get_is_405(client):
    assert client.get("/sms").status_code == 405


def test_retried_webhook_advances_once_and_repeats_the_reply(texter):
    texter.send("hi")
    sid = new_sid()
    first = texter.send("2", sid=sid)
    again = texter.send("2", sid=sid)
    assert first == again and "reverses an opioid overdose" in first
    # had the retry advanced the conversation, "2" at the naloxone screen would be "where"
    assert "ZIP code or town" in texter.send("2")


def test_concurrent_messages_from_one_number_lose_no_update(redis_url, redis_client):
    """50 messages at once: every one is counted in the state, none lost to a race."""
    app = create_app(make_settings(redis_url, RATE_LIMIT_PER_MINUTE="1000"))  # tested elsewhere
    helpline = app.config["HELPLINE"]
    client = app.test_client()
    texter = Texter(client, "+16125550999")
    texter.send("hi")

    def send(i):
        return Texter(app.test_client(), "+16125550999").send("treatment")

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(send, range(50)))
    assert all("Treatment works" in r for r in replies)
    state = helpline.store.load_session(helpline.vault.subject("+16125550999"))
    assert state["turns"] == 51


def test_same_sid_delivered_concurrently_gets_one_advance(app, helpline):
    Texter(app.test_client(), "+16125550998").send("hi")
    sid = new_sid()

    def send(_):
        return Texter(app.test_client(), "+16125550998").send("4", sid=sid)

    with ThreadPoolExecutor(6) as pool:
        replies = set(pool.map(send, range(12)))
    assert len(replies) == 1 and "Treatment works" in replies.pop()
    state = helpline.store.load_session(helpline.vault.subject("+16125550998"))
    assert state["turns"] == 2


def test_no_phone_number_in_redis(texter, redis_client):
    for body in ("hi", "2", "2", "55811", "STOP", "START"):
        texter.send(body)
    digits = "6125550123"
    for key in redis_client.scan_iter("*"):
        assert digits not in key.decode()
        kind = redis_client.type(key).decode()
        value = repr(redis_client.dump(key))
        assert digits not in value, (key, kind)


@pytest.fixture()
def app_without_redis():
    return create_app(make_settings("redis://127.0.0.1:1/0", redis_timeout=0.2))


@pytest.mark.parametrize("body, expected", [
    ("my friend is not breathing", "CALL 911 NOW"),
    ("he OD'd", "CALL 911 NOW"),
    ("hi", "Reply with a number"),
    ("2", "reverses an opioid overdose"),
])
def test_redis_down_still_answers(app_without_redis, body, expected):
    reply = Texter(app_without_redis.test_client()).send(body)
    assert expected in reply


def test_emergency_first_from_any_screen(texter):
    for screen in ("4", "1", "naloxone", "HELP"):
        texter.send("hi")
        texter.send(screen)
        reply = texter.send("she wont wake up and her lips are blue")
        assert reply.startswith("CALL 911 NOW"), reply
