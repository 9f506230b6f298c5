"""Issue 25, item 4: forged requests are cheap to refuse, and their refusals cheap to log.

The attack: 7,000 tiny form fields (within the 64 KiB body cap) were parsed, sorted and signed
before the signature was refused, about 38 ms each, and each wrote a WARNING line; a flood raised
the emergency reply's median from 6 to 309 ms. Now a form with more fields than any Twilio
webhook has is refused from a count of its raw bytes, before parsing or signing (413), and
refusals are logged as one summary line per minute. Timings are in make bench's territory; here:
the status (the cap acts before the signature), what is written, and how many lines are logged.
"""
from __future__ import annotations

import logging

import pytest

from bot.channels.refusals import RefusalLog
from bot.channels.twilio_auth import MAX_FORM_FIELDS
from tests.conftest import message_texts
from tests.signing import BASE_URL, post_signed, signature, sms_form

FORM = "application/x-www-form-urlencoded"


def many_fields(n: int) -> bytes:
    return "&".join(f"f{i}=" for i in range(n)).encode()


@pytest.mark.parametrize("path", ["/sms", "/sms/status", "/voice", "/voice/step?n=1&at=main"])
@pytest.mark.parametrize("signed", [False, True])
def test_seven_thousand_fields_are_refused_before_the_signature_is_checked(
        client, redis_client, path, signed):
    fields = {f"f{i}": "" for i in range(7000)}
    headers = {"X-Twilio-Signature": signature(BASE_URL + path, fields) if signed else "bm90"}

    response = client.post(path, data=many_fields(7000), content_type=FORM, headers=headers)

    assert response.status_code == 413  # not 403: the signature was never computed
    assert f"More than {MAX_FORM_FIELDS} form fields" in response.get_data(as_text=True)
    assert redis_client.dbsize() == 0


def test_a_real_form_with_many_fields_is_still_answered(client):
    form = sms_form("+16125557391", "narcan")
    form.update({f"MediaUrl{n}": f"https://api.twilio.com/m/{n}" for n in range(10)})
    form.update({f"Extra{n}": "x" for n in range(MAX_FORM_FIELDS - len(form))})
    assert len(form) == MAX_FORM_FIELDS

    response = post_signed(client, "/sms", form)

    assert response.status_code == 200
    assert "naloxone" in message_texts(response.get_data(as_text=True))[0].lower()


def test_a_multipart_body_with_too_many_parts_is_refused(client, redis_client):
    fields = {f"f{i}": "" for i in range(MAX_FORM_FIELDS + 50)}

    response = client.post("/sms", data=fields, content_type="multipart/form-data",
                           headers={"X-Twilio-Signature": signature(BASE_URL + "/sms", fields)})

    assert response.status_code == 413
    assert redis_client.dbsize() == 0


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_refusals_writes_one_summary_line_a_minute(app, client, caplog):
    clock = Clock()
    app.extensions["webhook_refusals"] = RefusalLog(interval=60, clock=clock)
    caplog.set_level(logging.INFO)
    forged = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    for n in range(300):
        body = many_fields(7000) if n % 3 == 0 else b"From=%2B16125550123&Body=hi"
        assert client.post("/sms", data=body, content_type=FORM,
                           headers=forged).status_code in (403, 413)
        clock.now += 0.1  # 300 requests in 30 seconds
    assert len(lines()) == 1  # the first, at once; the other 299 are counted, not written

    clock.now += 31
    client.post("/voice", data=b"From=x", content_type=FORM, headers=forged)

    first, summary = lines()
    assert first == "refused 1 webhook request(s): 1 too many form fields on /sms"
    assert summary.startswith("refused 300 webhook request(s) in 61 s:")
    assert "200 missing or invalid X-Twilio-Signature on /sms" in summary
    assert "99 too many form fields on /sms" in summary
    assert "1 missing or invalid X-Twilio-Signature on /voice" in summary
