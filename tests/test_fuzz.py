"""Attack the webhooks: forged signatures (hypothesis) and thousands of generated, validly signed requests.

FUZZ_CASES (default 2,500 per webhook, which keeps the suite short on a 2-core machine) can be raised
for a deeper run: `FUZZ_CASES=20000 make test PYTEST_ARGS=tests/test_fuzz*.py`.

Every forged request gets 403 and writes nothing; every generated request gets a 4xx with a reason
or 200 with well-formed TwiML; none gets a 5xx.
"""
from __future__ import annotations

import os
import random
import string
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.signing import BASE_URL, post_signed, signature

FUZZ_CASES = int(os.environ.get("FUZZ_CASES", "2500"))
ALPHABETS = [string.printable, "0123456789", "ñáéíóú¿¡ ", "\U0001F600\U0001F4A9\u200b\u202e",
             "".join(chr(c) for c in range(0, 32)), "<>&'\"]]>", "\ud7ff\ue000\ufffd"]
FIELDS = ["From", "To", "Body", "MessageSid", "AccountSid", "NumMedia", "SmsSid", "Foo", "From[]",
          "Body\x00", "MediaUrl0", ""]


def random_text(rng: random.Random) -> str:
    size = rng.choice([0, 1, 2, 5, 20, 160, 1600, 5000])
    alphabet = rng.choice(ALPHABETS)
    return "".join(rng.choices(alphabet, k=size))  # one call, not one per character: fast


def random_form(rng: random.Random) -> dict:
    form = {}
    if rng.random() < 0.9:
        form["From"] = rng.choice(["+16125550123", "+1612555" + str(rng.randrange(10**4)).zfill(4),
                                   "", "client:anon", random_text(rng)[:30]])
    if rng.random() < 0.9:
        form["Body"] = random_text(rng)
    for _ in range(rng.randrange(4)):
        form[rng.choice(FIELDS) or "x"] = random_text(rng)[:200]
    form["MessageSid"] = "SM%032x" % rng.getrandbits(128)
    return {k: v for k, v in form.items() if "\x00" not in k}


def assert_answered(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code == 200:
        root = ET.fromstring(response.get_data())
        assert root.tag == "Response"
        for message in root.findall("./Message"):
            assert message.text and len(message.text) < 1000
    else:
        assert response.status_code in (400, 403, 405, 413, 415)
        assert response.get_data(as_text=True).strip()


def test_ten_thousand_generated_signed_requests_to_sms(client, caplog):
    rng = random.Random(20261125)
    for _ in range(FUZZ_CASES):
        form = random_form(rng)
        try:
            response = post_signed(client, "/sms", form)
        except ValueError:  # a surrogate the test client itself cannot encode: not sendable
            continue
        assert_answered(response)
    assert not [r for r in caplog.records if r.getMessage().startswith("unhandled")]


def test_raw_garbage_bodies_and_content_types(client):
    rng = random.Random(7)
    for i in range(500):
        body = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 3, 100, 4000])))
        content_type = rng.choice(["application/x-www-form-urlencoded", "application/json",
                                   "text/plain", "multipart/form-data; boundary=x", ""])
        response = client.post("/sms", data=body, content_type=content_type,
                               headers={"X-Twilio-Signature": signature(BASE_URL + "/sms", {})})
        assert_answered(response)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(st.sampled_from(["From", "Body", "MessageSid", "To", "X"]),
                            st.text(max_size=40), min_size=1),
       forged=st.one_of(st.text(max_size=40), st.just("")),
       url=st.sampled_from([BASE_URL + "/sms", BASE_URL + "/voice", "http://help.example.org/sms",
                            BASE_URL + "/sms?x=1", "https://evil.example/sms"]))
def test_forged_signatures_are_refused_before_anything_is_written(client, redis_client, form,
                                                                 forged, url):
    real = signature(BASE_URL + "/sms", form)
    attempt = signature(url, form) if url != BASE_URL + "/sms" else forged
    if attempt == real:
        return
    try:
        response = client.post("/sms", data=form, headers={"X-Twilio-Signature": attempt})
    except ValueError:
        return
    assert response.status_code == 403
    assert redis_client.dbsize() == 0
