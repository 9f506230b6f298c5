"""Attack the other webhooks as tests/test_fuzz.py attacks /sms: 10,000 generated, validly signed
requests each to /voice, /voice/step, /voice/dial and /sms/status (random fields and query
strings, unicode, emoji, control characters, huge and empty values), then raw garbage bodies.

Every answer is a 4xx with a reason, 204 for a status callback, or 200 with well-formed TwiML;
none is a 5xx.
"""
from __future__ import annotations

import logging
import random
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest

from tests.signing import BASE_URL, post_signed, signature
from tests.test_fuzz import FUZZ_CASES, random_text

VERBS = {"Say", "Gather", "Redirect", "Dial", "Hangup", "Pause"}
NODES = ["main", "language", "emergency", "naloxone", "talk", "overdose", "nearby", "x" * 50, ""]
STATUSES = ["queued", "sent", "delivered", "undelivered", "failed", "read", "accepted", "", "X"]
CALL_SIDS = ["CA%032x" % n for n in range(40)]  # a few calls, so records are read and changed


def maybe(rng: random.Random, value, p: float = 0.85):
    return value if rng.random() < p else random_text(rng)[:rng.choice([0, 3, 80, 2000])]


def voice_form(rng: random.Random) -> dict:
    form = {"CallSid": maybe(rng, rng.choice(CALL_SIDS), 0.9),
            "From": maybe(rng, rng.choice(["+16125550123", "+1612555%04d" % rng.randrange(10**4),
                                           "Anonymous", "client:x", ""])),
            "To": "+16125550100", "CallStatus": maybe(rng, "in-progress"),
            "AccountSid": maybe(rng, "AC" + "0" * 32, 0.95)}
    extra = {"Digits": lambda: maybe(rng, rng.choice("0123456789*#"), 0.7),
             "SpeechResult": lambda: random_text(rng),
             "Confidence": lambda: maybe(rng, "0.%d" % rng.randrange(100)),
             "DialCallStatus": lambda: maybe(rng, rng.choice(["completed", "busy", "no-answer",
                                                               "failed", "canceled"])),
             "Caller": lambda: random_text(rng)[:40]}
    for name in rng.sample(sorted(extra), rng.randrange(len(extra) + 1)):
        form[name] = extra[name]()
    return {k: v for k, v in form.items() if rng.random() < 0.97}


def step_query(rng: random.Random) -> str:
    query = {"n": maybe(rng, str(rng.choice([0, 1, 2, 5, 40, -1, 10**12])), 0.9),
             "at": maybe(rng, rng.choice(NODES)), "lang": maybe(rng, rng.choice(["en", "es", "fr"]))}
    return urlencode({k: v for k, v in query.items() if rng.random() < 0.9})


def status_form(rng: random.Random) -> dict:
    form = {"MessageSid": maybe(rng, "SM%032x" % rng.getrandbits(128)),
            "MessageStatus": maybe(rng, rng.choice(STATUSES)),
            "ErrorCode": maybe(rng, rng.choice(["", "30003", "21610", "abc", "9" * 30]), 0.7),
            "AccountSid": "AC" + "0" * 32, "To": maybe(rng, "+16125550123")}
    return {k: v for k, v in form.items() if rng.random() < 0.95}


def assert_answered(response, status_callback: bool = False) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code == 200:
        assert not status_callback, "a status callback answers 204"
        root = ET.fromstring(response.get_data())
        assert root.tag == "Response" and {child.tag for child in root} <= VERBS
        assert root.find("./Gather") is not None or root.find("./Dial") is not None \
            or root.find("./Hangup") is not None or root.find("./Redirect") is not None
    elif response.status_code != 204:
        assert response.status_code in (400, 403, 405, 413, 415)
        assert response.get_data(as_text=True).strip()
    else:
        assert status_callback


WEBHOOKS = {
    "/voice": lambda rng: ("/voice", voice_form(rng)),
    "/voice/step": lambda rng: ("/voice/step?" + step_query(rng), voice_form(rng)),
    "/voice/dial": lambda rng: ("/voice/dial?" + step_query(rng), voice_form(rng)),
    "/sms/status": lambda rng: ("/sms/status", status_form(rng)),
}


@pytest.mark.parametrize("webhook", sorted(WEBHOOKS))
def test_ten_thousand_generated_signed_requests(client, webhook, caplog):
    caplog.set_level(logging.ERROR, logger="bot.channels.errors")
    rng = random.Random(f"fuzz {webhook}")
    answered = 0
    for _ in range(FUZZ_CASES):
        path, form = WEBHOOKS[webhook](rng)
        try:
            response = post_signed(client, path, form)
        except ValueError:  # a surrogate the test client itself cannot encode: not sendable
            continue
        assert_answered(response, webhook == "/sms/status")
        answered += response.status_code in (200, 204)
    assert answered > FUZZ_CASES // 3  # most requests were real enough to be answered
    crashes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("unhandled")]
    assert crashes == []  # never the safe fallback because our code failed


@pytest.mark.parametrize("path", ["/voice", "/voice/step?n=1&at=main&lang=en",
                                  "/voice/dial?n=1&at=talk&lang=en", "/sms/status"])
def test_raw_garbage_bodies_and_content_types(client, path):
    rng = random.Random(path)
    for _ in range(250):
        body = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 3, 100, 4000])))
        content_type = rng.choice(["application/x-www-form-urlencoded", "application/json",
                                   "text/plain", "multipart/form-data; boundary=x", ""])
        response = client.post(path, data=body, content_type=content_type,
                               headers={"X-Twilio-Signature": signature(BASE_URL + path, {})})
        assert_answered(response, path == "/sms/status")
