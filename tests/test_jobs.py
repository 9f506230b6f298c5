"""Check-ins end to end: sign up by text, `flask checkins dispatch --at`, a real `python worker.py
--burst`, the real twilio client against the local Twilio-compatible server (tests/twilio_server.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from bot import create_app
from bot.outbound.delivery import DONE, RETRY, SENT, Attempt, deliver
from bot.checkins.jobs import DISPATCH_QUEUE, SEND_QUEUE, schedule_tick
from bot.outbound.sender import TwilioSender
from bot.privacy.vault import Vault
from bot.storage.ratelimit import TokenBucket
from bot.checkins.subscriptions import Subscriptions
from tests.conftest import Texter, drain, make_settings, run_worker
from tests.waiting import wait_until
from tests.signing import AUTH_TOKEN, post_signed
from tests.twilio_server import ACCOUNT_SID

ANSWERS = "Reply 1 doing OK, 2 having a hard time, 3 need help now"


class Person:
    """Someone who signed up by text; knows when their next check-in is due."""

    def __init__(self, app, number: str, often: str = "1", when: str = "1"):
        self.app, self.number = app, number
        self.texter = Texter(app.test_client(), number)
        for text in ("CHECKIN", often, when, "YES"):
            self.texter.send(text)

    @property
    def helpline(self):
        return self.app.config["HELPLINE"]

    @property
    def subject(self) -> str:
        return self.helpline.vault.subject(self.number)

    @property
    def sub(self):
        return self.helpline.extras["checkins"].subs.load(self.subject)

    @property
    def due(self) -> datetime:
        return datetime.fromtimestamp(self.sub.due, timezone.utc)


def dispatch(app, at: datetime) -> str:
    result = app.test_cli_runner().invoke(args=["checkins", "dispatch", "--at", at.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def texts_to(fake, number: str) -> list[str]:
    return [m.form["Body"] for m in fake.messages if m.form["To"] == number]


def test_each_due_check_in_goes_out_once_and_the_next_one_says_something_new(
        checkin_app, worker_env, fake_twilio):
    people = [Person(checkin_app, f"+1612555010{n}") for n in range(3)]
    at = max(p.due for p in people) + timedelta(minutes=1)

    assert "enqueued 3" in dispatch(checkin_app, at)
    assert "nothing due" in dispatch(checkin_app, at)  # dispatching again changes nothing
    run_worker(worker_env)  # `python worker.py --burst`, as cron-style hosting runs it
    drain(checkin_app)  # a second worker finds nothing left to send

    assert sorted(m.form["To"] for m in fake_twilio.messages) == sorted(p.number for p in people)
    for message in fake_twilio.messages:
        assert ANSWERS in message.form["Body"] and "STOP to end" in message.form["Body"]
        assert message.form["StatusCallback"] == "https://help.example.org/sms/status"
    first = {p.number: texts_to(fake_twilio, p.number)[0] for p in people}
    nxt = max(p.due for p in people) + timedelta(minutes=1)
    assert nxt - at > timedelta(hours=20)  # daily: tomorrow morning
    assert "enqueued 3" in dispatch(checkin_app, nxt)
    drain(checkin_app)
    for p in people:
        texts = texts_to(fake_twilio, p.number)
        assert len(texts) == 2 and texts[1] != first[p.number]


def test_nothing_is_dispatched_in_quiet_hours_and_a_stale_check_in_is_skipped(client, helpline):
    person = Person(client.application, "+16125550111", "1", "3")  # every day, evening
    due_local = person.due.astimezone(helpline.settings.tz)
    night = due_local.replace(hour=21, minute=30)
    morning = (due_local + timedelta(days=1)).replace(hour=8, minute=10)
    outbound = Queue(SEND_QUEUE, connection=helpline.redis)

    assert "quiet_hours" in dispatch(client.application, night)
    assert outbound.count == 0
    assert "late 1" in dispatch(client.application, morning)  # 14 hours late: not "how is today"
    assert outbound.count == 0
    assert person.due.astimezone(helpline.settings.tz).date() == morning.date()


def test_a_check_in_waiting_when_quiet_hours_begin_waits_for_morning(
        checkin_app, worker_env, fake_twilio):
    person = Person(checkin_app, "+16125550112")
    dispatch(checkin_app, person.due + timedelta(minutes=1))
    tz = person.helpline.settings.tz
    hour = datetime.now(tz).hour
    quiet = {"QUIET_HOURS_START": str(hour), "QUIET_HOURS_END": str((hour + 2) % 24)}

    run_worker({**worker_env, **quiet})  # the worker's clock is now inside quiet hours

    assert fake_twilio.messages == []
    scheduled = ScheduledJobRegistry(SEND_QUEUE, connection=person.helpline.redis)
    [job_id] = scheduled.get_job_ids()
    when = scheduled.get_scheduled_time(job_id).astimezone(tz)
    assert when.hour == (hour + 2) % 24 and when > datetime.now(tz)


def test_a_reply_to_a_check_in_is_read_as_its_answer_for_the_first_reply(checkin_app, fake_twilio):
    person = Person(checkin_app, "+16125550113")
    other = Person(checkin_app, "+16125550114", "3", "3")  # weekly evening: no check-in yet
    dispatch(checkin_app, person.due + timedelta(minutes=1))
    drain(checkin_app)
    assert len(texts_to(fake_twilio, person.number)) == 1

    hard = person.texter.send("2")

    assert "Sorry today is hard" in hard and "988" in hard and "SMART Recovery" in hard
    assert "You do not have to do this alone" in person.texter.send("1")  # the screen's option now
    other.texter.send("0")
    assert "reverses an opioid overdose" in other.texter.send("2")  # no check-in: the menu's 2


@pytest.mark.parametrize("reply, expected", [
    ("1", "Good to hear"),
    ("3", "CALL 911 now"),
    ("he is not breathing", "CALL 911 NOW"),  # free text: emergency detection first
])
def test_each_answer_to_a_check_in(checkin_app, fake_twilio, reply, expected):
    person = Person(checkin_app, "+16125550115")
    dispatch(checkin_app, person.due + timedelta(minutes=1))
    drain(checkin_app)
    answer = person.texter.send(reply)
    assert expected in answer
    if reply == "3":
        assert "988" in answer and "1-800-662-4357" in answer


def test_retry_after_429_and_500_sends_exactly_once(checkin_app, fake_twilio):
    person = Person(checkin_app, "+16125550116")
    dispatch(checkin_app, person.due + timedelta(minutes=1))
    fake_twilio.fail_next(status=429)
    fake_twilio.fail_next(status=500)
    scheduled = ScheduledJobRegistry(SEND_QUEUE, connection=person.helpline.redis)

    for _ in range(2):
        drain(checkin_app)
        [job_id] = scheduled.get_job_ids()
        assert scheduled.get_scheduled_time(job_id) > datetime.now(timezone.utc)  # backoff
        scheduled.schedule(Job.fetch(job_id, connection=person.helpline.redis),
                           datetime.now(timezone.utc))  # let the backoff pass
    drain(checkin_app)

    assert [r.status for r in fake_twilio.requests if r.method == "POST"] == [429, 500, 201]
    assert len(texts_to(fake_twilio, person.number)) == 1
    drain(checkin_app)
    assert len(fake_twilio.messages) == 1


@pytest.mark.parametrize("code", [21610, 21211, 21614])
def test_a_number_that_cannot_take_texts_is_deactivated(checkin_app, fake_twilio, code):
    person = Person(checkin_app, "+16125550117")
    other = Person(checkin_app, "+16125550118")
    fake_twilio.fail_to(person.number, status=400, code=code)
    dispatch(checkin_app, max(person.due, other.due) + timedelta(minutes=1))

    drain(checkin_app)

    assert person.sub.status == "stopped" and person.sub.number == ""
    assert len(texts_to(fake_twilio, other.number)) == 1
    assert ScheduledJobRegistry(SEND_QUEUE, connection=person.helpline.redis).count == 0
    assert "enqueued 1" in dispatch(checkin_app, other.due + timedelta(minutes=1))


def test_stop_after_dispatch_cancels_the_check_in_already_queued(checkin_app, fake_twilio):
    person = Person(checkin_app, "+16125550119")
    dispatch(checkin_app, person.due + timedelta(minutes=1))

    person.texter.send("STOP")
    drain(checkin_app)

    assert fake_twilio.messages == []
    assert person.helpline.extras["checkins"].subs.count_due(4102444800) == 0


def test_a_paused_check_in_resumes_after_a_week_and_says_so(checkin_app, fake_twilio):
    person = Person(checkin_app, "+16125550120")
    first_due = person.due
    person.texter.send("PAUSE")

    assert "enqueued" not in dispatch(checkin_app, first_due + timedelta(minutes=1))
    assert person.due >= datetime.now(timezone.utc) + timedelta(days=7, minutes=-1)
    assert "enqueued 1" in dispatch(checkin_app, person.due + timedelta(minutes=1))
    drain(checkin_app)

    [text] = texts_to(fake_twilio, person.number)
    assert text.startswith("Your pause is over") and ANSWERS in text
    assert person.sub.status == "active"


def post_status(app, sid: str, status: str, code: str = "30003"):
    form = {"MessageSid": sid, "MessageStatus": status, "ErrorCode": code,
            "AccountSid": "AC" + "0" * 32}
    response = post_signed(app.test_client(), "/sms/status", form)
    assert response.status_code == 204


def test_three_undelivered_check_ins_in_a_row_put_them_on_hold(checkin_app, fake_twilio):
    person = Person(checkin_app, "+16125550121")
    for day in range(3):
        dispatch(checkin_app, person.due + timedelta(minutes=1))
        drain(checkin_app)
        sid = fake_twilio.messages[-1].sid
        post_status(checkin_app, sid, "sent")
        post_status(checkin_app, sid, "undelivered")
        post_status(checkin_app, sid, "undelivered")  # Twilio may repeat a callback: counted once
        assert person.sub.status == ("held" if day == 2 else "active")

    assert "On hold" in person.texter.send("STATUS")
    assert "nothing due" in dispatch(checkin_app, datetime.now(timezone.utc) + timedelta(days=9))
    assert "back on" in person.texter.send("RESUME")
    assert person.sub.status == "active" and person.sub.fails == 0


def test_a_delivered_check_in_resets_the_failure_count(checkin_app, fake_twilio):
    person = Person(checkin_app, "+16125550122")
    for status in ("undelivered", "undelivered", "delivered"):
        dispatch(checkin_app, person.due + timedelta(minutes=1))
        drain(checkin_app)
        post_status(checkin_app, fake_twilio.messages[-1].sid, status)
    assert person.sub.status == "active" and person.sub.fails == 0


def test_forget_erases_every_check_in_key_and_the_queued_job(checkin_app, fake_twilio):
    person = Person(checkin_app, "+16125550124")
    dispatch(checkin_app, person.due + timedelta(minutes=1))
    redis = person.helpline.redis
    [job_id] = Queue(SEND_QUEUE, connection=redis).get_job_ids()

    person.helpline.extras["checkins"].subs.forget(person.subject)

    assert [k for k in redis.scan_iter(f"hl:ci:*{person.subject}*")] == []
    assert redis.zscore("hl:ci:due", person.subject) is None
    assert not Job.exists(job_id, connection=redis)
    drain(checkin_app)
    assert fake_twilio.messages == []


def test_in_development_the_chat_shows_the_check_in_arriving(redis_url, redis_client):
    env = {"REDIS_URL": redis_url, "HELPLINE_ENV": "development", "QUIET_HOURS_START": "0",
           "QUIET_HOURS_END": "0"}
    app = create_app(make_settings(redis_url, **env))
    person = Person(app, "+16125550125")
    dispatch(app, person.due + timedelta(minutes=1))
    run_worker(env)  # no Twilio credentials: the console sender logs, and keeps it for chat

    with app.app_context():
        result = app.test_cli_runner().invoke(args=["chat", "--from", person.number], input="\n")

    assert "bot (check-in)> " in result.output and ANSWERS in result.output


def test_a_timed_out_send_is_looked_up_at_twilio_before_it_is_sent_again(
        redis_client, fake_twilio):
    subs = Subscriptions(redis_client, Vault("a-test-secret-" * 3))
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number="+16125550100",
                          api_base_url=fake_twilio.base_url, timeout=0.3)
    bucket = TokenBucket(redis_client, "test:bucket", rate=1000)
    attempt = Attempt("s" * 32, "2025-03-04-morning", "+16125550126", "Checking in. " + ANSWERS)
    fake_twilio.delay_next(1.0)  # Twilio takes the text but answers after the client gave up

    assert deliver(subs, sender, bucket, attempt)[0] == RETRY
    assert subs.marker(attempt.subject, attempt.slot).startswith("pending:")
    twilio_gets_there(lambda: len(fake_twilio.messages) == 1)
    assert deliver(subs, sender, bucket, attempt)[0] == DONE  # found at Twilio: not sent again

    assert len(fake_twilio.messages) == 1
    assert [r.method for r in fake_twilio.requests] == ["POST", "GET"]
    assert subs.marker(attempt.subject, attempt.slot) == f"sent:{fake_twilio.messages[0].sid}"
    assert deliver(subs, sender, bucket, attempt)[0] == DONE
    assert len(fake_twilio.requests) == 2  # a settled slot does not even ask


def test_a_refused_send_is_retried_without_a_lookup(redis_client, fake_twilio):
    subs = Subscriptions(redis_client, Vault("a-test-secret-" * 3))
    sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number="+16125550100",
                          api_base_url=fake_twilio.base_url, timeout=2)
    bucket = TokenBucket(redis_client, "test:bucket", rate=1000)
    attempt = Attempt("t" * 32, "2025-03-04-evening", "+16125550127", "Checking in. " + ANSWERS)
    fake_twilio.fail_next(status=429)

    assert deliver(subs, sender, bucket, attempt)[0] == RETRY
    assert subs.marker(attempt.subject, attempt.slot) is None  # Twilio said no: nothing pending
    assert deliver(subs, sender, bucket, attempt)[0] == SENT
    assert [r.method for r in fake_twilio.requests] == ["POST", "POST"]


def twilio_gets_there(condition) -> None:
    wait_until(condition, "the local Twilio server")


def test_the_dispatcher_runs_every_minute_as_one_chain(checkin_app, fake_twilio):
    person = Person(checkin_app, "+16125550128")
    redis = person.helpline.redis
    scheduled = ScheduledJobRegistry(DISPATCH_QUEUE, connection=redis)
    now = datetime.now(timezone.utc)
    for _ in range(3):  # three workers starting at once book one run (this minute), not three
        schedule_tick(Queue(DISPATCH_QUEUE, connection=redis), now - timedelta(minutes=1))
    [tick_id] = scheduled.get_job_ids()
    scheduled.schedule(Job.fetch(tick_id, connection=redis), now)  # its minute has come

    drain(checkin_app)

    assert person.helpline.store.last_dispatch() is not None  # it ran...
    [next_id] = scheduled.get_job_ids()  # ...and booked the next minute first
    assert next_id != tick_id and scheduled.get_scheduled_time(next_id) > now


def test_ops_commands_count_without_naming_anyone(checkin_app):
    person = Person(checkin_app, "+16125550129")
    runner = checkin_app.test_cli_runner()
    at = person.due + timedelta(minutes=1)

    due = runner.invoke(args=["checkins", "due", "--at", at.isoformat()])
    assert due.exit_code == 0 and due.output.startswith("1 due at")
    assert runner.invoke(args=["checkins", "due", "--at", (at - timedelta(hours=2))
                               .isoformat()]).output.startswith("0 due")
    stats = runner.invoke(args=["checkins", "stats"])
    assert "subscribers: 1" in stats.output and "checkin_subscribe 1" in stats.output
    bad = runner.invoke(args=["checkins", "dispatch", "--at", "tomorrow"])
    assert bad.exit_code == 2 and "not an ISO time" in bad.output
    for result in (due, stats, bad):
        assert person.number not in result.output and person.number[2:] not in result.output


def test_no_phone_number_in_redis_or_job_payloads_through_a_whole_cycle(checkin_app, fake_twilio):
    person = Person(checkin_app, "+16125550130")
    redis = person.helpline.redis
    dispatch(checkin_app, person.due + timedelta(minutes=1))
    queued = Queue(SEND_QUEUE, connection=redis).get_job_ids()
    jobs = [Job.fetch(job_id, connection=redis) for job_id in queued]
    drain(checkin_app)
    post_status(checkin_app, fake_twilio.messages[-1].sid, "delivered")
    person.texter.send("2")
    person.texter.send("PAUSE")

    digits = person.number[2:]
    for job in jobs:
        assert digits not in repr(job.args) + repr(job.kwargs) + (job.description or "")
    for key in redis.scan_iter("*"):
        kind = redis.type(key).decode()
        values = {"string": lambda: [redis.get(key)], "hash": lambda: redis.hgetall(key).items(),
                  "zset": lambda: redis.zrange(key, 0, -1), "set": lambda: redis.smembers(key),
                  "list": lambda: redis.lrange(key, 0, -1)}.get(kind, lambda: [])()
        assert digits.encode() not in key and digits.encode() not in repr(list(values)).encode()
