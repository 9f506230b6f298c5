"""The simulator's fast-forward: a test number's check-in or reminder, sent now instead of later.

Nothing is scheduled for a test number (simulator.py). Instead, what the real host would keep is
kept here for the test conversation, under the simulator's own key (keys.sim_ff, an hour): the
check-in plan from a YES to check-ins, and the last reminder booked. "Send the next check-in
now" shows the check-in as the worker would text it and opens it, so the next test text is read
as its answer (1 doing OK, 2 a hard time, 3 need help), as on a real phone. "Send the reminder
now" shows the reminder's text, and for "check on me" opens its reply. Real people's
subscriptions and reminders are never read or written.
"""
from __future__ import annotations

import json

from bot.channels.conversations import Facts
from bot.checkins.host import compose
from bot.console import keys
from bot.reminders.flow import CHECK_KEY

TTL = 3600
PLAN, REMINDER, OPEN, CHECK_OPEN, SENT = "plan", "reminder", "open", "check_open", "sent"


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def facts() -> Facts:
    """Context for a test text from the test number's own record (one read in the step's)."""
    def reads(subject: str):
        return (("HGETALL", keys.sim_ff(subject)),)

    def parse(subject: str, results: list) -> dict:
        raw = {_text(k): _text(v) for k, v in (results[0] or {}).items()}
        plan = json.loads(raw[PLAN]) if PLAN in raw else None
        reminder = json.loads(raw[REMINDER]) if REMINDER in raw else None
        listed = [{"rid": "sim", "kind": reminder["kind"], "key": reminder["key"],
                   "at": reminder["at"], "moved": False, "what": reminder.get("what", ""),
                   "job": "sim"}] if reminder else []
        return {"subscribed": plan is not None, "checkin_open": plan is not None and OPEN in raw,
                "subscription": dict(plan, status="active", next=0.0, paused_until=None,
                                     reason="") if plan else None,
                "reminders": {"list": listed, "open": "check" if CHECK_OPEN in raw else None}}
    return Facts(reads, parse)


def write(pipe, subject: str, number: str, outcome, ctx) -> None:
    """In the test step's transaction: any text answers the open check-in; a YES to check-ins
    or a booked reminder is kept for fast-forward; STOP or OFF ends the plan."""
    key = keys.sim_ff(subject)
    pipe.hdel(key, OPEN, CHECK_OPEN)
    for event in outcome.events:
        if event.name == "checkin_subscribe":
            plan = {"freq": event.data["freq"], "window": event.data["window"],
                    "locale": event.data["locale"]}
            pipe.hset(key, PLAN, json.dumps(plan))
        elif event.name in ("checkin_off", "opt_out"):
            pipe.hdel(key, PLAN)
        elif event.name == "reminder_set":
            data = {k: event.data.get(k) for k in ("kind", "key", "params", "locale", "at", "what")}
            pipe.hset(key, REMINDER, json.dumps(data, default=str))
        elif event.name == "reminders_cancel":
            pipe.hdel(key, REMINDER)
    pipe.expire(key, TTL)


def state(client, subject: str) -> dict:
    raw = {_text(k): _text(v) for k, v in client.hgetall(keys.sim_ff(subject)).items()}
    return {"plan": json.loads(raw[PLAN]) if PLAN in raw else None,
            "reminder": json.loads(raw[REMINDER]) if REMINDER in raw else None}


def checkin_now(client, content, subject: str) -> tuple[str, str] | None:
    """The next check-in's text as the worker would send it, now; (text, locale) or None
    without a plan. Its first reply is then read as the answer."""
    plan = state(client, subject)["plan"]
    if plan is None:
        return None
    key = keys.sim_ff(subject)
    count = int(client.hincrby(key, SENT, 1)) - 1
    client.hset(key, OPEN, "1")
    client.expire(key, TTL)
    return compose(content, subject, count, "checkin", plan["locale"]), plan["locale"]


def reminder_now(client, content, subject: str) -> tuple[str, str] | None:
    """The booked reminder's text, now, as ledger.compose writes it; (text, locale) or None."""
    reminder = state(client, subject)["reminder"]
    if reminder is None:
        return None
    key, locale = keys.sim_ff(subject), reminder["locale"]
    pipe = client.pipeline()
    pipe.hdel(key, REMINDER)
    if reminder["kind"] == "check":
        text = content.render(CHECK_KEY, locale)
        pipe.hset(key, CHECK_OPEN, "1")
    else:
        text = (content.render("reminders.header", locale) + "\n"
                + content.render(reminder["key"], locale, "sms", reminder.get("params") or {}))
    pipe.expire(key, TTL)
    pipe.execute()
    return text, locale
