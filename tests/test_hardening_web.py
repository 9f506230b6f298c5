"""Issue 19, items 1 and 2, against one real gunicorn with two gevent workers.

1. A ZIP code in another script's digits ("٥٥٨١١") once reached the Rust inside `zipcodes`,
   whose panic (a BaseException) killed the worker and every text it was answering. Every
   Unicode decimal digit and numeral, in ZIP-like positions, by SMS and by speech, must get an
   answer, and the workers must be the same processes afterwards.
2. Clients trickling a body a byte at a time once filled every worker connection, and emergency
   texts got no answer. With three times more of them than the workers can hold, emergency
   texts are still answered.
"""
from __future__ import annotations

import itertools
import os
import sys
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.signing import AUTH_TOKEN, BASE_URL, new_sid, signature, sms_form
from tests.slow_clients import Trickle
from tests.test_ops_gunicorn import free_port, running_gunicorn

SLOTS_PER_WORKER = 20
_numbers = itertools.count(1000)
ZEROS = sorted({ord(ch) - int(unicodedata.decimal(ch)) for ch in map(chr, range(sys.maxunicode + 1))
                if unicodedata.decimal(ch, None) is not None})
NUMERALS = [chr(cp) for cp in range(sys.maxunicode + 1)
            if unicodedata.category(chr(cp)) in ("Nd", "Nl", "No")]


def in_script(zero: int, digits: str) -> str:
    return "".join(chr(zero + int(d)) for d in digits)


class Web:
    def __init__(self, port: int, proc, log: Path):
        self.base, self.proc, self.log = f"http://127.0.0.1:{port}", proc, log
        self.http = requests.Session()

    def workers(self) -> set[int]:
        """The gunicorn master's children: the same set before and after means none died."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return {int(pid) for pid in path.read_text().split()}

    def text(self, body: str, http=None) -> str:
        form = sms_form(f"+1612{next(_numbers) % 10**7:07d}", body)
        headers = {"X-Twilio-Signature": signature(BASE_URL + "/sms", form)}
        reply = (http or self.http).post(self.base + "/sms", data=form, headers=headers,
                                         timeout=15)  # Twilio waits 15 s for an answer
        assert reply.status_code == 200, (body, reply.status_code, reply.text)
        return " ".join(m.text or "" for m in ET.fromstring(reply.text).iter("Message"))

    def say(self, words: str) -> str:
        path = "/voice/step?n=1&at=main&lang=en"
        form = {"CallSid": new_sid("CA"), "AccountSid": "AC" + "0" * 32,
                "From": f"+1612{next(_numbers) % 10**7:07d}", "To": "+16125550100",
                "SpeechResult": words, "Confidence": "0.9"}
        headers = {"X-Twilio-Signature": signature(BASE_URL + path, form)}
        reply = self.http.post(self.base + path, data=form, headers=headers, timeout=15)
        assert reply.status_code == 200, (words, reply.status_code, reply.text)
        return " ".join(s.text or "" for s in ET.fromstring(reply.text).iter("Say"))


@pytest.fixture(scope="module")
def web(redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hardening")
    port, log = free_port(), tmp / "gunicorn.log"
    env = {**os.environ, "REDIS_URL": redis_url, "HELPLINE_ENV": "test",
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": BASE_URL, "WEB_CONCURRENCY": "2",
           "GUNICORN_WORKER_CONNECTIONS": str(SLOTS_PER_WORKER), "RATE_LIMIT_PER_MINUTE": "0",
           "BODY_READ_TIMEOUT_SECONDS": "2", "RUST_BACKTRACE": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with running_gunicorn(env, port, log) as proc:
        yield Web(port, proc, log)


def test_a_zip_in_any_scripts_digits_is_read_by_text_and_speech(web):
    before = web.workers()
    sms_ascii, voice_ascii = web.text("55811"), web.say("55811")
    assert "55811" in sms_ascii

    for zero in ZEROS:  # every script's digits, e.g. "٥٥٨١١", "५५८११", "zip ๕๕๘๑๑"
        local = in_script(zero, "55811")
        assert web.text(local) == sms_ascii, hex(zero)
        assert web.text(f"zip {local}") == sms_ascii, hex(zero)
        assert web.say(local) == voice_ascii, hex(zero)

    assert web.workers() == before
    assert "PanicException" not in web.log.read_text()


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(digits=st.lists(st.sampled_from(NUMERALS), min_size=1, max_size=10),
       before=st.sampled_from(["", "zip ", "my zip is ", "naloxone near ", "55"]),
       after=st.sampled_from(["", "-1234", " mn", "11", "\u0661"]))
def test_any_numeral_in_a_zip_position_gets_an_answer_and_no_worker_dies(web, digits, before,
                                                                          after):
    workers = web.workers()
    words = before + "".join(digits) + after
    assert web.text(words)
    web.say(words)
    assert web.workers() == workers


def test_emergency_texts_are_answered_while_slow_clients_outnumber_the_connections(web):
    slots = 2 * SLOTS_PER_WORKER
    with Trickle(int(web.base.rsplit(":", 1)[1]), count=3 * slots, interval=0.5) as attack:
        web.text("menu")  # by now every slot has been taken once
        answers = []
        for _ in range(5):
            with requests.Session() as fresh:  # a new connection, as each Twilio webhook is
                answers.append(web.text("he is not breathing", http=fresh))
        ended = attack.ended

    assert all("911" in answer for answer in answers)
    assert ended >= slots  # the server ended slow connections (408) instead of waiting
