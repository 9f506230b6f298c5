"""The inbound rate limit: past RATE_LIMIT_PER_MINUTE a number gets one "slow down", then
silence until the minute is over, except that an overdose, a crisis or STOP is always answered.
The count lives in Redis (every web process shares it), rides on the read the step makes anyway
(no extra round trip), and a redelivered message is not counted twice.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis

from bot import create_app
from bot.helpline import build
from bot.channels.limits import WINDOW_SECONDS
from tests.conftest import Texter, make_settings, message_texts
from tests.signing import new_sid, post_signed, sms_form

LIMIT = 20
SLOW = "You sent a lot of texts in a short time"


def flood(texter: Texter, count: int, body: str = "2") -> list[str]:
    return [texter.send(body) for _ in range(count)]


def test_past_the_limit_one_slow_down_then_silence_and_the_conversation_waits(texter, helpline):
    replies = flood(texter, LIMIT)
    assert all(r for r in replies) and SLOW not in "".join(replies)
    state = helpline.store.load_session(helpline.vault.subject(texter.number))

    assert texter.send("2").startswith(SLOW)
    for body in ("2", "hi", "naloxone", "0"):
        response = post_signed(texter.client, "/sms", sms_form(texter.number, body))
        assert response.status_code == 200 and message_texts(response.get_data(as_text=True)) == []
    assert helpline.store.load_session(helpline.vault.subject(texter.number)) == state


@pytest.mark.parametrize("urgent, expected", [
    ("he is not breathing", "CALL 911 NOW"),
    ("i want to kill myself", "988"),
])
def test_an_overdose_or_a_crisis_is_answered_whatever_the_count(texter, urgent, expected):
    flood(texter, LIMIT + 5)
    assert expected in texter.send(urgent)
    assert expected in texter.send(urgent)


def test_stop_is_honoured_whatever_the_count(texter, helpline):
    flood(texter, LIMIT + 3)
    assert "unsubscribed" in texter.send("STOP")
    assert helpline.store.is_opted_out(helpline.vault.subject(texter.number))


def test_the_slow_down_is_in_the_persons_language(client):
    texter = Texter(client, "+16125557380")
    texter.send("hola")
    texter.send("espanol")
    flood(texter, LIMIT - 2, "1")
    assert texter.send("1").startswith("Mandaste muchos mensajes")


def test_a_redelivered_message_is_not_counted_twice(texter):
    for _ in range(LIMIT):
        sid = new_sid()
        first = texter.send("2", sid=sid)
        assert texter.send("2", sid=sid) == first  # Twilio's retry: the same answer
    assert texter.send("2").startswith(SLOW)  # the 21st message, not the 11th


def test_the_count_is_shared_by_every_web_process(redis_url, redis_client):
    apps = [create_app(make_settings(redis_url)) for _ in range(2)]
    texters = [Texter(app.test_client(), "+16125557381") for app in apps]
    for n in range(LIMIT):
        texters[n % 2].send("2")
    assert texters[1].send("2").startswith(SLOW)
    assert texters[0].send("2") == ""


def test_the_window_passes_and_the_number_is_answered_again(helpline):
    number, now = "+16125557382", datetime.now(timezone.utc)
    handle = helpline.conversations.handle
    for _ in range(LIMIT + 2):
        handle(number, "2", now, token=new_sid())
    assert handle(number, "2", now, token=new_sid()).messages == []
    later = now + timedelta(seconds=WINDOW_SECONDS)
    assert "Reply with a number" in handle(number, "0", later, token=new_sid()).messages[0]


def test_zero_turns_the_limit_off(redis_url, redis_client):
    texter = Texter(create_app(make_settings(redis_url, RATE_LIMIT_PER_MINUTE="0")).test_client())
    assert SLOW not in "".join(flood(texter, LIMIT + 5))


class Counting(redis.Connection):
    """A real connection that counts what it sends: one count per round trip."""

    trips = 0

    def send_packed_command(self, command, check_health=True):
        type(self).trips += 1
        return super().send_packed_command(command, check_health)


def round_trips(redis_url: str, limit: str) -> int:
    settings = make_settings(redis_url, RATE_LIMIT_PER_MINUTE=limit)
    client = redis.Redis.from_url(redis_url, connection_class=Counting)
    helpline = build(settings, client)
    number, now = f"+1612555739{limit[0]}", datetime.now(timezone.utc)
    helpline.conversations.handle(number, "hi", now, token=new_sid())  # a new conversation
    Counting.trips = 0
    helpline.conversations.handle(number, "2", now, token=new_sid())
    client.close()
    return Counting.trips


def test_the_limit_adds_no_round_trip_to_redis(redis_url, redis_client):
    assert round_trips(redis_url, "20") == round_trips(redis_url, "0")
