"""Anonymous daily counts for the dashboard: texts in and out (and by language), conversations,
calls, emergency and crisis replies, messages not understood and unsure (with the screen first
offered, never the words), places looked up by area, reminders booked, delivery failures by
error code.

Counted in the step's own transaction (a Conversations tx_write), from Twilio's status callbacks
(a status handler) and at each incoming call. Only counts per day and name: no subject, no
number, no text. The console's simulator uses its own Conversations without this write, so test
conversations are never counted.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import current_app, request

from bot.console import keys
from bot.storage.store import count_daily

log = logging.getLogger(__name__)
EMERGENCY_NODES = {"emergency": "emergency", "crisis": "crisis"}
FAILED = ("failed", "undelivered")
# What the engine answers when it did not understand (the hint and the menu), and when it was
# unsure (a "Did you mean: 1 ..., 2 ..." question; its first choice is counted, by screen).
NOT_UNDERSTOOD, UNSURE = "hint.unknown", "clarify.ask"


def _day(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y-%m-%d")


def count_turn(pipe, subject, number, outcome, ctx) -> None:
    """One message in (and its reply out), in the same transaction as the step."""
    day, channel = keys.usage(_day(datetime.now(timezone.utc))), ctx.channel
    locale = outcome.state.locale
    count_daily(pipe, day, f"in:{channel}")
    count_daily(pipe, day, f"in:{channel}:{locale}")
    said = [r.key for r in outcome.replies]
    if NOT_UNDERSTOOD in said:
        count_daily(pipe, day, f"unknown:{locale}")
    elif UNSURE in said:
        count_daily(pipe, day, f"unsure:{locale}")
        choices = next(r.params.get("choices") or [] for r in outcome.replies if r.key == UNSURE)
        if choices:
            count_daily(pipe, day, f"unsure_top:{str(choices[0])[:40]}")
    if outcome.replies:
        count_daily(pipe, day, f"out:{channel}")
    if outcome.state.turns <= 1:
        count_daily(pipe, day, "conversations")
    kind = outcome.signal if outcome.signal in EMERGENCY_NODES else \
        EMERGENCY_NODES.get(outcome.node)
    if kind:
        count_daily(pipe, day, kind)
    for reply in outcome.replies:
        place = (reply.params or {}).get("place") if reply.key.startswith("naloxone.") else None
        if place and outcome.node == "nearby" and reply.params.get("results"):
            count_daily(pipe, day, f"place:{str(place)[:60]}")
    for event in outcome.events:
        if event.name == "reminder_set":
            count_daily(pipe, day, "reminders_booked")


def on_status(redis_client):
    def handler(sid: str, status: str, code: str | None) -> None:
        if status in FAILED:
            try:
                pipe = redis_client.pipeline(transaction=False)
                count_daily(pipe, keys.usage(_day(datetime.now(timezone.utc))),
                            f"failed:{(code or 'none')[:12]}")
                pipe.execute()
            except Exception as exc:  # a count must never fail a status callback
                log.warning("usage: could not count a delivery failure: %s", type(exc).__name__)
    return handler


def count_call(response):
    """After POST /voice answered: one incoming call (retries of step 0 are rare and harmless)."""
    if request.endpoint == "voice.incoming" and response.status_code == 200:
        helpline = current_app.config["HELPLINE"]
        try:
            pipe = helpline.redis.pipeline(transaction=False)
            count_daily(pipe, keys.usage(_day(datetime.now(timezone.utc))), "calls")
            pipe.execute()
        except Exception as exc:
            log.warning("usage: could not count a call: %s", type(exc).__name__)
    return response


def install(helpline) -> None:
    helpline.conversations.tx_writes.append(count_turn)
    helpline.status_handlers.append(on_status(helpline.redis))


def read(client, day: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(keys.usage(day)).items()}
