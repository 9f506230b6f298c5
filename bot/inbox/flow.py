"""Asking for a person, and the bot's manners while a ticket is open: engine hooks and the
channel's gate. PURE, like the engine they plug into: they read Context.inbox (the open ticket
and the measured reply time, read in the step's own round trip) and return events, which
bot/inbox/host.py writes in the step's transaction.

Asking: the talk menu's "text with our team", the check-in's "need help" screen, or a few exact
phrases (content/<locale>/keywords.yaml, `inbox: ask:`) reach the inbox_ask screen. In staffed
hours it says that a person will read the messages, how long replies have usually taken
(measured; nothing when fewer than 5 replies were timed), that an emergency needs 911, and how
long messages are kept; YES opens a ticket. Outside staffed hours it says so at once, with 988
and the menu, and, if the team allows it (INBOX_LEAVE_MESSAGE), YES leaves a message.

While a ticket is open (the gate, before the engine's step): the engine still reads every text,
and its answer goes out only for an emergency or a crisis (the ticket turns urgent), an update in
the emergency window, a number picking an option of the screen the bot just sent, STOP, HELP and
FORGET (and FORGET's YES or NO). An end word (`inbox: end:`) closes the ticket. Everything else
goes to the ticket, and the bot stays quiet.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable, Mapping

from bot.conversation import intents
from bot.conversation.engine import MAIN, Engine, Event, Outcome, Reply, State
from bot.inbox.hours import Hours
from bot.understanding import when
from bot.understanding.keywords import fold

ASK, CHAT = "inbox_ask", "inbox_chat"  # flows/inbox.yaml
HELP_NOW = "checkin_help"              # flows/checkin.yaml: 911, 988 and "4 text with our team"
OFFER = "inbox_offer"                  # session var: {"at": ts, "mode": "live" | "message"}
OFFER_SECONDS = 600                    # YES later than this is not an answer to the offer
OPEN, MESSAGE, CLOSE = "inbox_open", "inbox_message", "inbox_close"
LIVE, LEFT = "live", "message"
ANSWERED = frozenset({"stop", "help", "forget"})  # commands the bot still answers in a ticket
SIGNALS = ("emergency", "crisis")


@dataclass(frozen=True)
class Words:
    """Whole messages, folded, per language: asking for a person, ending the chat."""

    ask: Mapping[str, frozenset[str]]
    end: Mapping[str, frozenset[str]]
    need: Mapping[str, frozenset[str]] = field(default_factory=dict)  # a check-in's "need help"

    @classmethod
    def from_sections(cls, sections: Mapping[str, Mapping]) -> "Words":
        def folded(name: str) -> dict[str, frozenset[str]]:
            return {locale: frozenset(fold(str(w)) for w in (section or {}).get(name) or [])
                    for locale, section in sections.items()}
        return cls(folded("ask"), folded("end"), folded("need"))

    def asking(self, folded: str) -> str | None:
        """The language whose phrase this is, when the whole message asks for a person."""
        return next((locale for locale, words in self.ask.items() if folded in words), None)

    def ending(self, folded: str) -> bool:
        return any(folded in words for words in self.end.values())

    def needing(self, folded: str) -> bool:
        return any(folded in words for words in self.need.values())


def _with_vars(state: State, **changes) -> State:
    return replace(state, vars=dict(state.vars, **changes))


class InboxFlow:
    """The hooks share the staffed hours and the inbox settings, so what people read is true."""

    def __init__(self, hours: Hours, words: Words, leave: bool = False, days: int = 7):
        self.hours, self.words, self.leave, self.days = hours, words, leave, days

    # --- the ask screen -----------------------------------------------------------------------
    def draw(self, engine: Engine, state: State, ctx, now: datetime) -> Outcome:
        """inbox_ask as the hours and settings make it: staffed, closed, or off."""
        base = replace(state, vars={k: v for k, v in state.vars.items() if k != OFFER})
        if ctx.inbox is None or ctx.channel != "sms" or not self.hours.on:
            return Outcome(base, (Reply("inbox.off"),))
        if self.hours.staffed(now):
            typical = ctx.inbox.get("typical")
            params = {"minutes": max(1, round(typical / 60)) if typical is not None else None,
                      "days": self.days}
            offered = _with_vars(base, **{OFFER: {"at": now.timestamp(), "mode": LIVE}})
            return Outcome(offered, (Reply("inbox.ask", params),))
        back = self.hours.next_start(now)
        params = {"back": when.describe(back, now, self.hours.tz) if back else None,
                  "leave": self.leave, "days": self.days}
        if self.leave:
            base = _with_vars(base, **{OFFER: {"at": now.timestamp(), "mode": LEFT}})
        return Outcome(base, (Reply("inbox.closed", params),))

    def after(self, engine: Engine, before: State, outcome: Outcome, ctx, now: datetime):
        """Entering inbox_ask by a menu number draws it for now (the flow alone cannot)."""
        say = engine.flow.node(ASK).say if ASK in engine.flow.nodes else None
        if (outcome.state.node != ASK or not outcome.replies
                or outcome.replies[-1].key != say or outcome.replies[-1].params):
            return outcome
        drawn = self.draw(engine, outcome.state, ctx, now)
        return replace(outcome, state=drawn.state, replies=outcome.replies[:-1] + drawn.replies)

    def asked(self, engine: Engine, state: State, text: str, now: datetime, ctx):
        """"talk to a person", "can I text someone real", "hablar con una persona"; without
        staffed hours these are the talk screen's, as before the inbox."""
        locale = self.words.asking(fold(text))
        if locale is None or not self.hours.on or ctx.inbox is None:
            return None
        if locale != state.locale and locale in engine.lexicons.by_locale:
            state = replace(state, locale=locale)
        return engine.enter(state, ASK)

    def need_help(self, engine: Engine, state: State, ctx, now: datetime, folded: str):
        """"need help" as the first reply to a check-in ("3 need help now") or to the check
        after an emergency ("2 need help") is that answer, whose screen offers the team, rather
        than the main menu that the words give anywhere else."""
        if not self.hours.on or not self.words.needing(folded) or HELP_NOW not in engine.flow.nodes:
            return None
        if ctx.checkin_open:
            return engine.enter(state, HELP_NOW,
                                events=(Event("checkin_answer", {"answer": HELP_NOW}),))
        if (ctx.reminders or {}).get("open") == "check":
            return engine.enter(state, HELP_NOW)
        return None

    def redraw(self, engine: Engine, state: State, ctx) -> Outcome | None:
        """BACK to inbox_ask: the menu number's screen again."""
        return engine.enter(state, ASK, remember=False)

    # --- YES and NO to the offer --------------------------------------------------------------
    def _offer(self, state: State, ctx, now: datetime) -> Mapping | None:
        offer = state.vars.get(OFFER)
        if (state.node != ASK or not isinstance(offer, Mapping) or ctx.opted_out
                or ctx.inbox is None or ctx.inbox.get("open")):
            return None
        age = now.timestamp() - float(offer.get("at") or 0)
        return offer if 0 <= age <= OFFER_SECONDS else None

    def yes(self, engine: Engine, state: State, ctx, now: datetime, folded: str):
        offer = self._offer(state, ctx, now)
        if offer is None:
            return None  # not ours: START after STOP, a check-in or a reminder...
        mode = offer.get("mode")
        staffed = self.hours.staffed(now)
        if (mode == LIVE and not staffed) or (mode == LEFT and (staffed or not self.leave)):
            return self.draw(engine, state, ctx, now)  # the hours changed since it was asked
        due = now if staffed else (self.hours.next_start(now) or now)
        event = Event(OPEN, {"locale": state.locale, "mode": mode, "at": now.timestamp(),
                             "due": due.timestamp()})
        params = {"back": when.describe(due, now, self.hours.tz) if mode == LEFT else None}
        outcome = engine.enter(state, CHAT, events=(event,))
        return replace(outcome, replies=(Reply("inbox.opened" if mode == LIVE else "inbox.left",
                                               params),))

    def no(self, engine: Engine, state: State, ctx, now: datetime, folded: str):
        if self._offer(state, ctx, now) is None:
            return None
        return engine.main_menu(state)

    # --- while a ticket is open ---------------------------------------------------------------
    def gate(self, engine: Engine, state: State | None, text: str, now: datetime, ctx):
        """Before the engine's step (bot/channels/conversations.py): None when no ticket is
        open; else the engine's answer where it must speak, or silence and the ticket."""
        ticket = (ctx.inbox or {}).get("open")
        if not ticket:
            return None
        at = now.timestamp()
        folded = fold(text or "")
        if self.words.ending(folded):
            current = state or State(locale=ctx.inbox.get("locale") or engine.lexicons.default)
            menu = engine.main_menu(replace(current, turns=current.turns + 1))
            close = Event(CLOSE, {"ticket": ticket, "by": "person", "at": at})
            return replace(menu, replies=(Reply("inbox.ended"),) + menu.replies, events=(close,))
        outcome = engine.step(state, text, now, ctx)
        hit = engine.lexicons.command(folded, outcome.state.locale)
        command = hit[0] if hit else None
        if command == "stop":
            close = Event(CLOSE, {"ticket": ticket, "by": "stop", "at": at})
            return replace(outcome, events=outcome.events + (close,))
        message = {"ticket": ticket, "text": (text or "")[:1600], "at": at}
        if self._speaks(engine, outcome, state, command, folded, now):
            message["said"] = [r.key for r in outcome.replies]
            if outcome.signal in SIGNALS:
                message["urgent"] = outcome.signal
            return replace(outcome, events=outcome.events + (Event(MESSAGE, message),))
        quiet = state or State(locale=ctx.inbox.get("locale") or outcome.state.locale)
        quiet = replace(quiet, node=CHAT, turns=quiet.turns + 1)
        return Outcome(quiet, (), (Event(MESSAGE, message),))

    @staticmethod
    def _speaks(engine: Engine, outcome: Outcome, state: State | None, command: str | None,
                folded: str, now: datetime) -> bool:
        """Where the bot answers although a person has the conversation."""
        if outcome.signal in SIGNALS or command in ANSWERED:
            return True
        if command in ("yes", "no"):  # FORGET's confirmation, and only that
            return any(e.name == "forget" for e in outcome.events) or any(
                r.key.startswith("privacy.") for r in outcome.replies)
        if state is None:
            return False
        if intents.in_emergency(state, now) and outcome.state.node in intents.UPDATES.values():
            return True
        # "Reply 1 more steps" on the screen the bot just sent keeps its promise
        key = folded.replace(" ", "")
        return (state.node not in (CHAT, MAIN) and key.isdigit() and state.node in engine.flow.nodes
                and engine.flow.node(state.node).target(key) is not None)


def handlers(flow: InboxFlow) -> dict[str, Callable]:
    """Engine hooks; bot/helpline.py merges them (a pending FORGET's YES still wins)."""
    return {"answer": flow.asked, "command:yes": flow.yes, "command:no": flow.no,
            "command:menu": flow.need_help, f"screen:{ASK}": flow.redraw}


def then(later: Callable | None, first: Callable) -> Callable:
    """Two `after` hooks in a row, `first` then `later` (each may change the outcome), where
    merge() would keep only the first answer."""
    if later is None:
        return first

    def both(engine, before, outcome, ctx, now):
        return later(engine, before, first(engine, before, outcome, ctx, now), ctx, now)
    return both
