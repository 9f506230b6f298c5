"""'Press 8 to get this by text': a real RQ worker runs the job and the real twilio client
delivers the text to a local Twilio-compatible server (tests/twilio_server.FakeTwilio)."""
from __future__ import annotations

import pytest
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

from bot import create_app
from tests.conftest import Texter, make_settings
from tests.test_voice import NUMBER, PATHS, Caller
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

FROM = "+16125550100"


@pytest.fixture(scope="module")
def server():
    with FakeTwilio() as fake:
        yield fake


def twilio_env(redis_url: str, server: FakeTwilio) -> dict:
    return {"REDIS_URL": redis_url, "HELPLINE_ENV": "test", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM,
            "TWILIO_API_BASE_URL": server.base_url, "PUBLIC_BASE_URL": "https://help.example.org",
            "SEND_RATE_PER_SECOND": "100"}


@pytest.fixture(scope="module")
def texting_app(redis_url, server):
    return create_app(make_settings(redis_url, **twilio_env(redis_url, server)))


@pytest.fixture()
def env(monkeypatch, redis_url, server):
    """The worker reads its settings from the environment, as `python worker.py` does."""
    for name, value in twilio_env(redis_url, server).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HELPLINE_SECRET", raising=False)
    server.reset()


@pytest.fixture()
def client(texting_app, redis_client, env):
    return texting_app.test_client()


@pytest.fixture()
def helpline(texting_app):
    return texting_app.config["HELPLINE"]


@pytest.fixture()
def queue(redis_client):
    return Queue("outbound", connection=redis_client)


def run_worker(queue: Queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def caller_at(client, node: str, number: str = NUMBER) -> Caller:
    caller = Caller(client, number)
    caller.start()
    for key in PATHS[node]:
        caller.press(key)
    return caller


def test_press_8_texts_the_screen_once_even_when_twilio_retries_the_webhook(
        client, helpline, queue, server):
    caller = caller_at(client, "naloxone_use")

    said = caller.press("8")
    caller.retry()
    caller.retry()

    assert said.startswith("OK. We will send this to you by text message in a moment.")
    assert "press 8" not in said and "press star" in said
    [job] = queue.get_jobs()
    assert NUMBER[2:] not in repr(job.args) + job.description, "the payload holds no clear number"
    assert helpline.vault.decrypt(job.args[0]) == NUMBER
    run_worker(queue)
    [message] = server.messages
    assert message.form["To"] == NUMBER and message.form["From"] == FROM
    assert message.form["Body"] == helpline.content.render("naloxone.use", "en", "sms")
    assert job.get_status(refresh=True) == "finished"


def test_the_text_conversation_continues_from_the_texted_screen(client, queue, server):
    caller_at(client, "naloxone_use").press("8")
    run_worker(queue)
    assert "Reply 1 where to get it" in server.messages[0].form["Body"]

    reply = Texter(client, NUMBER).send("1")

    assert "ZIP code or town" in reply  # 1 means "where to get it", as the text said


def test_one_text_per_screen_per_call_however_often_8_is_pressed(client, queue, server):
    caller = caller_at(client, "legal")
    caller.press("8")
    caller.press("8")
    caller.press("1")
    caller.press("8")

    run_worker(queue)

    bodies = [m.form["Body"] for m in server.messages]
    assert len(bodies) == 2
    assert bodies[0].startswith("MN Good Samaritan law") and bodies[1].startswith("Who MN law")


def test_the_emergency_steps_can_be_texted_while_they_repeat(client, helpline, queue, server):
    caller = Caller(client)
    caller.dial_in()
    caller.say("my friend is not breathing")
    assert "press 8" in caller.said()
    caller.press("8")
    assert caller.wait().startswith("Hang up and call 9 1 1 now.")
    run_worker(queue)
    assert server.messages[0].form["Body"] == helpline.content.render("emergency.steps", "en", "sms")


def test_an_opted_out_caller_is_told_and_gets_no_text(client, queue, server):
    Texter(client, NUMBER).send("STOP")
    caller = caller_at(client, "naloxone_where")

    said = caller.press("8")

    assert said.startswith("You asked us not to text you, so we did not send it.")
    assert queue.count == 0
    run_worker(queue)
    assert server.messages == []


def test_stop_texted_after_pressing_8_still_wins(client, queue, server):
    caller_at(client, "safer").press("8")
    [job] = queue.get_jobs()
    Texter(client, NUMBER).send("STOP")

    run_worker(queue)

    assert server.messages == []
    assert job.return_value(refresh=True) == {"sent": False, "reason": "opted_out"}


@pytest.mark.parametrize("hidden", ["Anonymous", "+266696687", "client:operator", ""])
def test_a_hidden_or_non_phone_caller_cannot_be_texted(client, queue, hidden):
    caller = caller_at(client, "tx_meds", number=hidden)
    assert caller.press("8").startswith("Sorry, we cannot send a text message to this phone")
    assert queue.count == 0


def test_a_failed_send_is_retried_later_and_then_delivered_once(client, queue, server):
    caller_at(client, "overdose").press("8")
    server.fail_next(status=500)

    run_worker(queue)

    assert server.messages == [] and server.requests[-1].status == 500
    registry = ScheduledJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()
    registry.requeue(job_id)  # the scheduler's interval, skipped
    run_worker(queue)
    assert len(server.messages) == 1


def test_no_phone_number_is_stored_in_the_clear(client, queue, redis_client):
    caller = caller_at(client, "naloxone_safe")
    caller.press("8")
    run_worker(queue)

    digits = NUMBER[2:]
    for key in redis_client.scan_iter(count=1000):
        assert digits not in key.decode(errors="replace")
        kind = redis_client.type(key)
        values = {b"string": lambda: [redis_client.get(key)],
                  b"hash": lambda: list(redis_client.hgetall(key).values()),
                  b"list": lambda: redis_client.lrange(key, 0, -1)}.get(kind, lambda: [])()
        for value in values:
            assert digits not in (value or b"").decode(errors="replace"), key


def test_a_text_job_queued_under_its_old_module_name_before_the_upgrade_still_sends_once(
        client, helpline, queue, server):
    """Jobs queued by the release before bot/voice_jobs.py moved to bot/voice/jobs.py carry the
    old dotted name; bot/legacy.py resolves it, so the text still goes out, once."""
    body = helpline.content.render("emergency.steps", "en", "sms")
    queue.enqueue("bot.voice_jobs.send_screen_text", helpline.vault.encrypt(NUMBER), "emergency",
                  "en", body, job_id="voice-text-before-upgrade")

    run_worker(queue)
    run_worker(queue)

    [message] = server.messages
    assert message.form["To"] == NUMBER and message.form["Body"] == body
