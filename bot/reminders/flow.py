"""Reminders and "check on me" as engine hooks: pure, like the engine they plug into.

Offers are data. A screen with `offer: reminder_offer` (flows/main.yaml) ends with the offer
line, and the offer waits in the session's vars (engine.OFFER) while the person stays on that
screen, OFFER_TTL at most: YES, a time ("tonight", "mañana 9am") or NO answers it. YES outside
an offer keeps its old meanings (START after STOP, check-in sign-up, FORGET). The emergency
screen's `offer: check_offer` comes with the NEXT reply, because the steps must stay within two
segments: "Reply OK if everyone is safe. Want us to check on you in an hour? Reply CHECK".
Hooks only emit events (reminder_set, reminders_cancel); bot/reminders/ledger.py writes them in the
step's transaction. Nothing is scheduled that the person did not ask for.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from bot.understanding import when
from bot.checkins.rules import Rules
from bot.conversation.engine import OFFER, Engine, Event, Outcome, Reply, State
from bot.understanding.keywords import fold

REMINDER_OFFER, CHECK_OFFER = "reminder_offer", "check_offer"  # flows/reminders.yaml
LIST_NODE, CHECK_OK, CHECK_HELP = "reminders_list", "check_ok", "checkin_help"
SEEN = "keep_emergency"            # the steps were shown: {"at": ts, "offered": bool}; kept on
OFFER_TTL = timedelta(minutes=30)  # YES later than this is not an answer to the offer
CHECK_AFTER = timedelta(hours=1)
MAX_REMINDERS = 5                  # per person, so a reminder list stays one short text
CHECK_KEY = "reminders.check_text"
ANSWERS = {"1": CHECK_OK, "2": CHECK_HELP}  # the reply to "Reply 1 all OK, 2 need help"
SET, CANCEL = "reminder_set", "reminders_cancel"
Fits = Callable[[tuple[Reply, ...], str], bool]


def digest(kind: str, node: str, key: str, params: Mapping) -> str:
    """Which reminder this is: the same for a repeated YES, another for other places."""
    raw = json.dumps([kind, node, key, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def reminder_event(kind: str, node: str, key: str, params: Mapping, keep: Mapping, locale: str,
                   at: datetime, rules: Rules, named: bool = False) -> Event:
    """What to send and when; SMS and voice both schedule this. Quiet hours move only a time
    the person did not choose (tomorrow morning's default); a time they named ("in an hour",
    "11pm") is kept, at night too, and `night` lets the confirmation say so."""
    moved_to = at if named else rules.next_allowed(at)
    return Event(SET, {"kind": kind, "node": node, "key": key, "params": dict(params),
                       "keep": dict(keep), "locale": locale, "what": digest(kind, node, key, params),
                       "at": moved_to.timestamp(), "moved": moved_to != at, "named": named,
                       "night": named and rules.quiet(at)})


def _with_vars(outcome: Outcome, **changes: Any) -> Outcome:
    state = outcome.state
    return replace(outcome, state=replace(state, vars=dict(state.vars, **changes)))


class ReminderFlow:
    """The hooks share the helpline's quiet hours and time zone, so the times people read are real."""

    def __init__(self, rules: Rules, fits: Fits = lambda replies, locale: True):
        self.rules, self.fits = rules, fits

    # --- offers, after whatever rule answered ------------------------------------------------
    def after(self, engine: Engine, before: State, outcome: Outcome, ctx, now: datetime):
        """Offer a reminder under a screen that has one; the check offer one reply after the steps."""
        if (ctx.channel != "sms" or ctx.opted_out or ctx.reminders is None
                or any(e.name == "opt_out" for e in outcome.events)):
            return outcome
        node = engine.flow.node(outcome.state.node)
        shown = bool(outcome.replies) and outcome.replies[-1].key == node.say
        if shown and node.offer == REMINDER_OFFER:
            return self._offer(engine, outcome, node.id, now)
        seen = outcome.state.vars.get(SEEN)
        if shown and node.offer == CHECK_OFFER:
            offered = isinstance(seen, Mapping) and bool(seen.get("offered"))
            return _with_vars(outcome, **{SEEN: {"at": now.timestamp(), "offered": offered}})
        if not isinstance(seen, Mapping) or seen.get("offered"):
            return outcome
        replies = outcome.replies + (Reply(engine.flow.node(CHECK_OFFER).say),)
        if not self.fits(replies, outcome.state.locale):
            return outcome  # this screen is full: the next reply offers it
        return replace(_with_vars(outcome, **{SEEN: dict(seen, offered=True)}), replies=replies)

    def _offer(self, engine: Engine, outcome: Outcome, node_id: str, now: datetime) -> Outcome:
        """The offer under the screen; its short form (`<key>_short`) when a long screen leaves
        no room for the whole line (a places reply for a far-off town); none if neither fits."""
        screen = outcome.replies[-1]
        key = engine.flow.node(REMINDER_OFFER).say
        for offer in (key, f"{key}_short"):
            replies = outcome.replies + (Reply(offer),)
            if self.fits(replies, outcome.state.locale):
                break
        else:
            return outcome
        keep = {k: v for k, v in outcome.state.vars.items() if k.startswith("keep_") and k != SEEN}
        pending = {"node": REMINDER_OFFER, "screen": node_id, "key": screen.key,
                   "params": dict(screen.params), "keep": keep, "at": now.timestamp()}
        return replace(_with_vars(outcome, **{OFFER: pending}), replies=replies)

    def _pending(self, state: State, ctx, now: datetime) -> Mapping | None:
        """The offer this message may answer: fresh, and only to someone we may text."""
        offer = state.vars.get(OFFER)
        if ctx.opted_out or ctx.reminders is None or not isinstance(offer, Mapping):
            return None
        age = now.timestamp() - float(offer.get("at") or 0)
        return offer if 0 <= age <= OFFER_TTL.total_seconds() else None

    # --- answers to an offer: YES, a time, NO ------------------------------------------------
    def yes(self, engine: Engine, state: State, ctx, now: datetime, folded: str):
        offer = self._pending(state, ctx, now)
        if offer is None:
            return None  # not ours: START after STOP, a check-in or FORGET confirmation...
        if offer.get("node") == CHECK_OFFER:
            return self._check(state, ctx, now)
        return self._screen(state, ctx, offer, when.default(now, self.rules.tz), now, named=False)

    def time(self, engine: Engine, state: State, text: str, now: datetime, ctx):
        """'expects: time' of the reminder offer: "tonight", "in 2 hours", "mañana 9am"."""
        offer = self._pending(state, ctx, now)
        if offer is None or offer.get("node") != REMINDER_OFFER:
            return None
        try:
            at = when.parse(text, now, self.rules.tz)
        except when.Unclear:
            return Outcome(state, (Reply("reminders.unclear"),))
        return None if at is None else self._screen(state, ctx, offer, at, now, named=True)

    def no(self, engine: Engine, state: State, ctx, now: datetime, folded: str):
        if self._pending(state, ctx, now) is None:
            return None
        kept = {k: v for k, v in state.vars.items() if k != OFFER}
        return Outcome(replace(state, vars=kept), (Reply("reminders.declined"),))

    def _screen(self, state: State, ctx, offer: Mapping, at: datetime, now: datetime,
                named: bool) -> Outcome:
        event = reminder_event("screen", offer["screen"], offer["key"], offer.get("params") or {},
                               offer.get("keep") or {}, state.locale, at, self.rules, named)
        return self._set(state, ctx, event, "reminders.set", now)

    def _set(self, state: State, ctx, event: Event, reply: str, now: datetime) -> Outcome:
        listed = (ctx.reminders or {}).get("list") or []
        if (event.data["what"] not in {r.get("what") for r in listed}
                and len(listed) >= MAX_REMINDERS):
            return Outcome(state, (Reply("reminders.too_many", {"max": MAX_REMINDERS}),))
        at = datetime.fromtimestamp(event.data["at"], timezone.utc)
        params = {"key": event.data["key"], "moved": event.data["moved"],
                  "night": event.data["night"], "at": when.describe(at, now, self.rules.tz)}
        return Outcome(state, (Reply(reply, params),), (event,))

    # --- CHECK, OK, and the answer to the check ----------------------------------------------
    def check(self, engine: Engine, state: State, ctx, now: datetime, folded: str):
        """CHECK after the emergency steps books it; anywhere else it asks first (YES)."""
        if ctx.reminders is None:
            return None
        if ctx.opted_out:
            return Outcome(state, (Reply("reminders.opted_out"),))
        if isinstance(state.vars.get(SEEN), Mapping):
            return self._check(state, ctx, now)
        asked = {"node": CHECK_OFFER, "at": now.timestamp()}
        return _with_vars(Outcome(state, (Reply("reminders.check_ask"),)), **{OFFER: asked})

    def _check(self, state: State, ctx, now: datetime) -> Outcome:
        seen = state.vars.get(SEEN)
        if isinstance(seen, Mapping):
            state = replace(state, vars=dict(state.vars, **{SEEN: dict(seen, offered=True)}))
        # "Check on me in an hour" is the person's own time: an hour from now, even at night.
        event = reminder_event("check", "", CHECK_KEY, {}, {}, state.locale, now + CHECK_AFTER,
                               self.rules, named=True)
        return self._set(state, ctx, event, "reminders.check_set", now)

    def ok(self, engine: Engine, state: State, ctx, now: datetime, folded: str):
        """OK: the answer to the check ("all OK"), or "everyone is safe" after the steps."""
        if (ctx.reminders or {}).get("open") == "check":
            return engine.enter(state, CHECK_OK)
        if isinstance(state.vars.get(SEEN), Mapping):
            return Outcome(state, (Reply("reminders.safe"),))
        return None

    def answer(self, engine: Engine, state: State, text: str, now: datetime, ctx):
        """1 all OK, 2 need help: only as the first reply after the check went out."""
        node = ANSWERS.get(fold(text).replace(" ", ""))
        if node is None or (ctx.reminders or {}).get("open") != "check":
            return None
        return engine.enter(state, node)

    # --- REMINDERS -------------------------------------------------------------------------
    def listing(self, engine: Engine, state: State, ctx, now: datetime, folded: str):
        if ctx.reminders is None:
            return None
        items = sorted(ctx.reminders.get("list") or [], key=lambda r: r["at"])
        if not items:
            return Outcome(state, (Reply("reminders.none"),))
        shown = [{"key": r["key"], "moved": r.get("moved", False),
                  "at": when.describe(datetime.fromtimestamp(r["at"], timezone.utc), now,
                                      self.rules.tz)} for r in items]
        return engine.enter(state, LIST_NODE, params={"items": shown})


def handlers(rules: Rules, fits: Fits = lambda replies, locale: True) -> dict[str, Callable]:
    """Engine hooks; bot/helpline.py merges them after FORGET's, whose YES must win when pending."""
    flow = ReminderFlow(rules, fits)
    return {"after": flow.after, "command:yes": flow.yes, "command:no": flow.no,
            "command:check": flow.check, "command:ok": flow.ok,
            "command:reminders": flow.listing, "expects:time": flow.time, "answer": flow.answer}
