"""Issue 25, item 1: FORGET wins every race with work already under way.

The attack: a caller pressed 8 ("text me this") and sent FORGET + YES while the job waited on the
send rate. The erase reported nothing left; seconds later the conversation, the send marker and
an RQ job holding the encrypted number were back, and the text went out after "we erased what we
kept". The same held for a check-in or a reminder in flight.

Here each kind of outbound text is caught by the erase at two moments, with real `python
worker.py --burst` processes and the local Twilio server: waiting on the shared send rate (the
bucket is booked a few seconds ahead, so the job sleeps in it), and at Twilio (the server holds
the request until the test lets it go). Then every Redis key and value is read (RQ payloads
decoded): nothing may lead to the person but the tombstone, and nothing is sent after the erase.
A text already handed to Twilio cannot be called back; nothing is written after it.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from rq import Worker
from rq.registry import ScheduledJobRegistry

from bot.storage.keys import OUTBOUND_RATE_KEY, gone_key, replies_key
from bot.storage.tombstone import GONE_TTL
from tests.conftest import ROOT, Texter, _BASE_ENV
from tests.test_jobs import dispatch, texts_to
from tests.test_privacy import ERASED, snapshot, subscription, ties
from tests.test_reminders import scheduled
from tests.test_voice import PATHS, Caller
from tests.waiting import wait_until

NUMBER = "+16125557361"
STALL = 4.0  # seconds the send rate is booked ahead: long enough to FORGET inside it


def start_worker(env: dict, burst: bool = True) -> subprocess.Popen:
    """`python worker.py` in the background, so the test can act while it works."""
    return subprocess.Popen([sys.executable, "worker.py", *(["--burst"] if burst else [])],
                            cwd=ROOT, env={**_BASE_ENV, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(worker: subprocess.Popen, stop: bool = False) -> str:
    """Wait for a burst worker to end, or stop a long-running one (SIGTERM: its job ends first)."""
    if stop:
        worker.terminate()
    _, err = worker.communicate()
    assert worker.returncode == 0, err[-3000:]
    return err


def worker_state(client) -> str:
    """The one worker's state as RQ records it ("idle", "busy"), "" before it is up."""
    workers = Worker.all(connection=client)
    return workers[0].get_state() if workers else ""


def stall_sends(client) -> float:
    """Book the shared send rate STALL seconds ahead; returns the booking a new send adds to."""
    seconds, micros = client.time()
    until = seconds + micros / 1e6 + STALL
    client.set(OUTBOUND_RATE_KEY, f"{until:.6f}", px=int(STALL * 1000) + 60_000)
    return until


def waiting_on_rate(client, until: float) -> bool:
    """A send has booked its place behind the stall: it sleeps in the bucket now."""
    return float(client.get(OUTBOUND_RATE_KEY) or 0) > until


# --- the three kinds of outbound text, each brought to the point of sending ------------------
def press_8(app, fake) -> dict:
    caller = Caller(app.test_client(), NUMBER)
    caller.start()
    for key in PATHS["naloxone_use"]:
        caller.press(key)
    assert "text" in caller.press("8")
    return {"call": caller.sid}


def checkin_due(app, fake) -> dict:
    texter = Texter(app.test_client(), NUMBER)
    for body in ("CHECKIN", "1", "1", "YES"):
        texter.send(body)
    due = datetime.fromtimestamp(subscription(app, NUMBER).due, timezone.utc)
    assert "enqueued" in dispatch(app, due + timedelta(minutes=1))
    return {}


def reminder_due(app, fake) -> dict:
    texter = Texter(app.test_client(), NUMBER)
    texter.send("CHECK")
    assert "we will check on you" in texter.send("YES")
    registry = ScheduledJobRegistry("outbound", connection=app.config["HELPLINE"].redis)
    [job_id] = scheduled(app)
    registry.requeue(job_id)  # its time has come: RQ's scheduler would queue it now
    return {}


KINDS = {"text me this": press_8, "check-in": checkin_due, "reminder": reminder_due}


def tokens_of(helpline, found: dict) -> tuple[str, ...]:
    subject = helpline.vault.subject(NUMBER)
    tokens = tuple(t.decode() for t in helpline.redis.smembers(replies_key(subject)))
    return tokens + tuple(helpline.vault.token(sid) for sid in found.values())


def forget(app) -> None:
    texter = Texter(app.test_client(), NUMBER)
    texter.send("FORGET")
    assert ERASED in texter.send("YES")


def assert_nothing_left(helpline, tokens) -> None:
    """Every key and value read: only the tombstone (the keyed hash, a short TTL) leads to them."""
    subject = helpline.vault.subject(NUMBER)
    left = ties(snapshot(helpline.redis), helpline.vault, NUMBER, tokens)
    assert left == [gone_key(subject)], left
    assert 0 < helpline.redis.ttl(gone_key(subject)) <= GONE_TTL


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_forget_while_the_text_waits_on_the_send_rate_sends_nothing_and_leaves_nothing(
        checkin_app, worker_env, fake_twilio, kind):
    helpline = checkin_app.config["HELPLINE"]
    worker = start_worker(worker_env, burst=False)  # up and idle before the text is due
    wait_until(lambda: worker_state(helpline.redis) == "idle", "the worker, waiting for work")
    until = stall_sends(helpline.redis)
    found = KINDS[kind](checkin_app, fake_twilio)
    tokens = tokens_of(helpline, found)
    wait_until(lambda: waiting_on_rate(helpline.redis, until), "the job asleep on the send rate")

    forget(checkin_app)
    wait_until(lambda: worker_state(helpline.redis) == "idle", "the job, woken and done")
    finish(worker, stop=True)

    assert texts_to(fake_twilio, NUMBER) == []
    assert_nothing_left(helpline, tokens)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_forget_while_the_text_is_at_twilio_writes_nothing_after_it(
        checkin_app, worker_env, fake_twilio, kind):
    helpline = checkin_app.config["HELPLINE"]
    found = KINDS[kind](checkin_app, fake_twilio)
    tokens = tokens_of(helpline, found)
    gate = fake_twilio.hold_next()
    worker = start_worker(worker_env)
    wait_until(lambda: fake_twilio.holding() == 1, "the text held at the local Twilio")

    forget(checkin_app)
    gate.set()
    finish(worker)

    assert len(texts_to(fake_twilio, NUMBER)) == 1  # handed to Twilio before the erase
    assert_nothing_left(helpline, tokens)


def test_what_the_person_asks_for_after_forget_is_sent_as_usual(
        checkin_app, worker_env, fake_twilio):
    """The tombstone stops work planned before the erasure, not what they ask for afterwards."""
    helpline = checkin_app.config["HELPLINE"]
    press_8(checkin_app, fake_twilio)
    forget(checkin_app)
    finish(start_worker(worker_env))
    assert texts_to(fake_twilio, NUMBER) == []  # the call's text was planned before: never sent

    for kind in sorted(KINDS):  # a new call's text, a check-in and a reminder, all after it
        KINDS[kind](checkin_app, fake_twilio)
    finish(start_worker(worker_env))

    texts = texts_to(fake_twilio, NUMBER)
    assert len(texts) == 3, texts
    assert any("checking on you" in t for t in texts)
    assert helpline.redis.exists(gone_key(helpline.vault.subject(NUMBER)))


def test_the_tombstone_outlives_every_wait_and_retry_of_work_planned_before_it():
    from bot.checkins.dispatch import FAILURE_TTL
    from bot.checkins.subscriptions import MARKER_TTL as CHECKIN_MARKERS
    from bot.outbound.markers import MARKER_TTL as TEXT_MARKERS
    from bot.reminders.ledger import RECORD_TTL

    assert GONE_TTL > max(RECORD_TTL, CHECKIN_MARKERS, TEXT_MARKERS, FAILURE_TTL)
