"""Log lines carry the request id and never a phone number, as JSON lines or readable text."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import re

import pytest

from bot.ops import logs as web_logging
from tests.signing import post_signed, sms_form

NUMBER = "+16125550123"
LEAKS = ("6125550123", "612-555-0123", "(612) 555-0123", "555-0123")


@contextlib.contextmanager
def installed(fmt: str):
    """What the production handler writes, installed on the root logger for a while."""
    stream = io.StringIO()
    handler = web_logging.build_handler(fmt, stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield fmt, stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture(params=["json", "text"])
def captured(request):
    with installed(request.param) as capture:
        yield capture


def lines(captured) -> list[str]:
    fmt, stream = captured
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def request_ids(captured) -> list[str]:
    fmt, stream = captured
    if fmt == "json":
        return [json.loads(line)["request_id"] for line in lines(captured)]
    records = [line for line in lines(captured) if re.match(r"\d{4}-\d\d-\d\d ", line)]
    return [line.split("[", 1)[1].split("]", 1)[0] for line in records]


def test_twilio_idempotency_token_is_the_request_id_of_every_line(client, captured):
    form = sms_form(NUMBER, "menu")
    post_signed(client, "/sms", form)
    response = post_signed(client, "/sms", form,  # a redelivery, which the app logs
                           headers={"I-Twilio-Idempotency-Token": "idem-3f1c9a"})

    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "idem-3f1c9a"
    assert any("duplicate delivery" in line for line in lines(captured))
    assert set(request_ids(captured)) == {"idem-3f1c9a"}


def test_x_request_id_is_used_when_sane_and_replaced_when_not(client):
    assert client.get("/healthz", headers={"X-Request-Id": "lb-42.a"}).headers[
        "X-Request-Id"] == "lb-42.a"
    for bad in ("has spaces", "x" * 200, NUMBER, "a\tfake] log line"):
        echoed = client.get("/healthz", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
        assert echoed != bad and len(echoed) == 32 and NUMBER[2:] not in echoed


def test_numbers_in_messages_and_tracebacks_are_masked(app, captured):
    @app.get("/boom")
    def boom():
        logging.getLogger("bot.test").warning("callback for %s (or 612-555-0123) failed", NUMBER)
        raise RuntimeError(f"could not text {NUMBER}")

    response = app.test_client().get("/boom", headers={"X-Request-Id": "req-boom"})

    assert response.status_code == 500
    text = "\n".join(lines(captured))
    assert "+1******0123" in text and "RuntimeError" in text
    assert not any(leak in text for leak in LEAKS), text
    assert set(request_ids(captured)) == {"req-boom"}


def test_lines_outside_a_request_say_so(captured):
    logging.getLogger("bot.test").info("worker started at 2024-05-01 12:00:00 on 10.20.30.40")

    assert request_ids(captured) == ["-"]
    assert "2024-05-01 12:00:00" in lines(captured)[0] and "10.20.30.40" in lines(captured)[0]


def test_json_lines_have_the_fields_a_log_search_needs():
    with installed("json") as captured:
        logging.getLogger("bot.test").error("texted %s", NUMBER, extra={"to": NUMBER})

    [record] = [json.loads(line) for line in lines(captured)]
    assert {"time", "level", "logger", "request_id", "message"} <= set(record)
    assert record["level"] == "ERROR" and record["logger"] == "bot.test"
    assert record["message"] == "texted +1******0123" and record["to"] == "+1******0123"


@pytest.mark.parametrize("text, masked", [
    ("+16125550123", "+1******0123"),
    ("from +1 (612) 555-0123 today", "from +1******0123 today"),
    ("612-555-0123", "******0123"),
    ("612.555.0123", "******0123"),
    ("From=%2B16125550123&Body=hi", "From=%2B+1******0123&Body=hi"),
    ("+44 20 7946 0958", "+4*******0958"),
    ("Listening at: http://127.0.0.1:39585 (19586)", None),
    ("at 2024-05-01 12:00:00 from 10.100.200.250", None),
])
def test_mask_text_masks_numbers_in_every_usual_form_and_nothing_else(text, masked):
    assert web_logging.mask_text(text) == (masked or text)


def test_the_dispatchers_job_id_reads_the_same_in_the_logs(redis_client):
    """RQ logs every job by id; the minute in the dispatcher's id is written as a date, so the
    masking of phone-like digit runs leaves it as the dashboard shows it."""
    from datetime import datetime, timezone

    from rq import Queue

    from bot.checkins.jobs import DISPATCH_QUEUE, schedule_tick

    queue = Queue(DISPATCH_QUEUE, connection=redis_client)
    schedule_tick(queue, datetime(2026, 12, 4, 8, 15, 30, tzinfo=timezone.utc))
    [job_id] = queue.scheduled_job_registry.get_job_ids()
    assert job_id == "checkins-tick-2026-12-04T0816"
    assert web_logging.mask_text(f"Job OK ({job_id})") == f"Job OK ({job_id})"
