"""Check-in screens and commands as engine hooks: pure, like the engine they plug into.

The nodes are in flows/checkin.yaml and the words in content/<locale>/checkin.yaml. These hooks
read the person's choices and return events (checkin_subscribe, checkin_pause, ...), which the
host (bot/checkins/host.py) writes to Redis in the same transaction as the step. Nothing is
scheduled before the person answers YES to the confirmation (double opt-in).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable, Mapping

from bot.checkins.rules import PAUSE, Plan, Rules
from bot.conversation.engine import MAIN, Engine, Event, Outcome, Reply, State
from bot.understanding.keywords import fold

HUB, OFTEN, WHEN, CONFIRM, STARTED = ("checkin", "checkin_often", "checkin_when",
                                      "checkin_confirm", "checkin_started")
ANSWERS = {"1": "checkin_ok", "2": "checkin_hard", "3": "checkin_help"}
FREQ_CHOICES = {"1": "daily", "2": "every3", "3": "weekly"}
WINDOW_CHOICES = {"1": "morning", "2": "afternoon", "3": "evening"}


def _when(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, timezone.utc) if ts else None


class CheckinFlow:
    """The hooks share the helpline's scheduling rules, so the dates people read are real."""

    def __init__(self, rules: Rules):
        self.rules = rules

    # --- what the person has (Context.subscription) ------------------------------------------
    def _plan(self, ctx) -> Plan | None:
        sub = ctx.subscription or {}
        try:
            return Plan(sub.get("freq", ""), sub.get("window", "")) if ctx.subscribed else None
        except ValueError:
            return None

    def _params(self, ctx) -> dict:
        sub = ctx.subscription or {}
        nxt, until = _when(sub.get("next")), _when(sub.get("paused_until"))
        return {"freq": sub.get("freq"), "window": sub.get("window"), "status": sub.get("status"),
                "reason": sub.get("reason") or "",
                "next": self.rules.local_day(nxt) if nxt else None,
                "until": self.rules.local_day(until) if until else None}

    def _status(self, state: State, ctx) -> Outcome:
        if self._plan(ctx) is None:
            return Outcome(state, (Reply("checkin.none"),))
        return Outcome(state, (Reply("checkin.status", self._params(ctx)),))

    # --- signing up: how often, when, YES ----------------------------------------------------
    def _ask_often(self, engine: Engine, state: State, ctx, remember: bool = True) -> Outcome:
        if ctx.opted_out:
            return Outcome(state, (Reply("checkin.start_first"),))
        return engine.enter(state, OFTEN, params={"changing": ctx.subscribed}, remember=remember)

    def often_again(self, engine: Engine, state: State, ctx) -> Outcome:
        """BACK to "how often?" asks it again."""
        return self._ask_often(engine, state, ctx, remember=False)

    def _often(self, engine, state, choice, now, ctx):
        freq = FREQ_CHOICES.get(choice)
        if freq is None:
            return None
        return self._keep(engine.enter(state, WHEN), ci_freq=freq)

    def _when(self, engine, state, choice, now, ctx):
        window, freq = WINDOW_CHOICES.get(choice), state.vars.get("ci_freq")
        if window is None or freq is None:
            return None
        outcome = engine.enter(state, CONFIRM, params={"freq": freq, "window": window})
        return self._keep(outcome, ci_freq=freq, ci_window=window)

    def _confirm(self, engine, state, choice, now, ctx):
        hit = engine.lexicons.command(choice, state.locale)
        word = hit[0] if hit else None
        if word == "no":
            return engine.main_menu(state, extra=(Reply("checkin.cancelled"),))
        try:
            plan = Plan(state.vars.get("ci_freq", ""), state.vars.get("ci_window", ""))
        except ValueError:
            return None
        if word != "yes":
            # People answer menus with digits; this screen asks YES or NO and has no list, so
            # a number gets that question again (the choices so far are kept), not "not on
            # this list". Words still go on to topics and the menu.
            return Outcome(state, (Reply("checkin.yes_or_no"),)) if choice.isdigit() else None
        slot = self.rules.first_slot(plan, now)
        event = Event("checkin_subscribe", {"freq": plan.freq, "window": plan.window,
                                            "locale": state.locale, "slot": slot.key})
        params = {"freq": plan.freq, "window": plan.window, "changed": ctx.subscribed,
                  "first": self.rules.local_day(self.rules.start(slot))}
        return engine.enter(state, STARTED, params=params, events=(event,))

    @staticmethod
    def _keep(outcome: Outcome, **choices) -> Outcome:
        """Carry the choices so far to the next screen (enter() clears a screen's vars)."""
        kept = dict(outcome.state.vars, **choices)
        return replace(outcome, state=replace(outcome.state, vars=kept))

    # --- the check-in menu: 1 sign up/change, 2 status, 3 pause, 4 resume, 5 stop ------------
    def _hub(self, engine, state, choice, now, ctx):
        actions = {"1": lambda: self._ask_often(engine, state, ctx),
                   "2": lambda: self._status(state, ctx),
                   "3": lambda: self.pause(engine, state, ctx, now, choice),
                   "4": lambda: self.resume(engine, state, ctx, now, choice),
                   "5": lambda: self._off(state, ctx)}
        action = actions.get(choice)
        return action() if action else None

    def stop_in_words(self, engine, state, ctx, now, folded):
        """"i dont want these anymore" from someone getting check-ins: those stop, nothing else."""
        if self._plan(ctx) is None or ctx.opted_out or ctx.channel != "sms":
            return None
        if (ctx.subscription or {}).get("status") not in ("active", "paused"):
            return None
        return self._off(state, ctx)

    def _off(self, state: State, ctx) -> Outcome:
        if self._plan(ctx) is None:
            return Outcome(state, (Reply("checkin.none"),))
        return Outcome(state, (Reply("checkin.off"),), (Event("checkin_off"),))

    def choice(self, engine: Engine, state: State, text: str, now: datetime, ctx):
        """'expects: choice' at the check-in screens; other screens' choices are not ours."""
        step = {HUB: self._hub, OFTEN: self._often, WHEN: self._when,
                CONFIRM: self._confirm}.get(state.node)
        if step is None or ctx.channel != "sms":  # by phone, the screen says to text CHECKIN
            return None
        return step(engine, state, fold(text).replace(" ", "") if state.node != CONFIRM
                    else fold(text), now, ctx)

    # --- a reply to a check-in -------------------------------------------------------------
    def answer(self, engine: Engine, state: State, text: str, now: datetime, ctx):
        """1 doing OK, 2 a hard time, 3 need help now: only as the first reply after a check-in."""
        node = ANSWERS.get(fold(text).replace(" ", "")) if ctx.checkin_open else None
        if node is None:
            return None
        locale = (ctx.subscription or {}).get("locale")
        if state.turns == 1 and locale in engine.lexicons.by_locale:
            state = replace(state, locale=locale)  # a new conversation: the check-in's language
        return engine.enter(state, node, events=(Event("checkin_answer", {"answer": node}),))

    # --- keywords: CHECKIN, STATUS, CHANGE, PAUSE, RESUME, and START after STOP --------------
    def checkin(self, engine, state, ctx, now, folded):
        if self._plan(ctx) is None or ctx.opted_out:
            return self._ask_often(engine, state, ctx)
        return engine.enter(state, HUB, params=self._params(ctx))

    def status(self, engine, state, ctx, now, folded):
        return self._status(state, ctx)

    def change(self, engine, state, ctx, now, folded):
        return self._ask_often(engine, state, ctx)

    def pause(self, engine, state, ctx, now, folded):
        plan = self._plan(ctx)
        if plan is None:
            return Outcome(state, (Reply("checkin.none"),))
        until = now + PAUSE
        slot = self.rules.resume_slot(plan, until)
        event = Event("checkin_pause", {"until": until.timestamp(), "slot": slot.key})
        reply = Reply("checkin.paused", {"until": self.rules.local_day(self.rules.start(slot))})
        return Outcome(state, (reply,), (event,))

    def resume(self, engine, state, ctx, now, folded):
        plan = self._plan(ctx)
        if plan is None:
            return Outcome(state, (Reply("checkin.none"),))
        if (ctx.subscription or {}).get("status") == "active":
            return self._status(state, ctx)
        slot = self.rules.first_slot(plan, now)
        reply = Reply("checkin.resumed", {"next": self.rules.local_day(self.rules.start(slot))})
        return Outcome(state, (reply,), (Event("checkin_resume", {"slot": slot.key}),))

    def start(self, engine, state, ctx, now, folded):
        """START after STOP: offer check-ins again, never switch them back on silently."""
        sub = ctx.subscription or {}
        if not (ctx.opted_out and sub.get("status") == "stopped" and sub.get("freq")):
            return None
        replies = (Reply("optout.resumed"), Reply("checkin.offer_again"))
        return Outcome(replace(state, node=MAIN, history=()), replies, (Event("opt_in"),))


def handlers(rules: Rules) -> dict[str, Callable]:
    """Engine hooks for check-ins; merge with others through `merge` (several may share a key)."""
    flow = CheckinFlow(rules)
    return {"expects:choice": flow.choice, "answer": flow.answer,
            "command:checkin": flow.checkin, "command:status": flow.status,
            "command:change": flow.change, "command:pause": flow.pause,
            "command:resume": flow.resume, "command:start": flow.start,
            f"screen:{OFTEN}": flow.often_again,
            # "actually i dont want these anymore" (bot/conversation/intents.py): the check-ins
            # only, never the opt-out of all texts; the reply confirms they are off.
            "intent:checkin_stop": lambda engine, state, ctx, now, folded: flow._off(state, ctx),
            "intent:stop": flow.stop_in_words}


def unavailable(rules: Rules) -> dict[str, Callable]:
    """OUTBOUND_TEXTS=off: the words for check-ins and reminders open the hub, which then says
    this line sends none (bot/helpline.py's without_texts); STOP in plain words still works."""
    flow = CheckinFlow(rules)

    def hub(engine, state, ctx, now, folded):
        return engine.enter(state, HUB)
    words = ("checkin", "status", "change", "pause", "resume", "reminders", "check")
    return {**{f"command:{word}": hub for word in words}, "intent:stop": flow.stop_in_words}


def merge(*maps: Mapping[str, Callable]) -> dict[str, Callable]:
    """Combine hook maps; when two modules hook one key, the first answer that is not None wins."""
    merged: dict[str, Callable] = {}
    for hooks in maps:
        for key, hook in hooks.items():
            merged[key] = _chain(merged[key], hook) if key in merged else hook
    return merged


def _chain(first: Callable, second: Callable) -> Callable:
    def chained(*args):
        result = first(*args)
        return result if result is not None else second(*args)
    return chained
