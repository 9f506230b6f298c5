"""The conversation engine: PURE. step(flow, state, text, now) -> new state, replies, events.

No clock, no Redis, no Twilio: adapters (SMS, voice, chat) feed it and render what it returns,
so every rule here is testable in microseconds and behaves the same on every channel.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Mapping

from bot.conversation import intents
from bot.conversation.flows import Flow
from bot.conversation.intents import CRISIS, EMERGENCY, MAIN
from bot.conversation.routing import MeaningRules
from bot.understanding.keywords import Lexicons, fold

MAX_INPUT = 1600
MAX_HISTORY = 8
# Commands that never switch the conversation's language: navigation and pleasantries.
KEEP_LANGUAGE = frozenset({"back", "more", "menu", "thanks"})
# A screen's pending offer (flows: `offer:`), kept in State.vars by the hook that made it:
# {"node": <offer node id>, ...}. Its node's `expects` reads the next message first (_pending).
OFFER = "offer"


@dataclass(frozen=True)
class State:
    """Where one person is in the conversation; serialised to Redis as JSON."""

    node: str = MAIN
    history: tuple[str, ...] = ()
    locale: str = "en"
    turns: int = 0
    vars: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"node": self.node, "history": list(self.history), "locale": self.locale,
                "turns": self.turns, "vars": dict(self.vars)}

    @classmethod
    def from_dict(cls, data: Mapping | None) -> "State":
        if not data:
            return cls()
        return cls(node=str(data.get("node", MAIN)), history=tuple(data.get("history", ())),
                   locale=str(data.get("locale", "en")), turns=int(data.get("turns", 0)),
                   vars=dict(data.get("vars") or {}))


@dataclass(frozen=True)
class Reply:
    """A message to render: a content key and its parameters (never prose)."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """Something the host must do: opt out, subscribe, send later..."""

    name: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """Facts the host knows that outlive a conversation (opt-out, subscription)."""

    channel: str = "sms"
    opted_out: bool = False
    subscribed: bool = False
    locale: str | None = None  # the language the person chose before, for a new conversation
    subscription: Mapping[str, Any] | None = None  # check-in plan: status, freq, window, dates
    checkin_open: bool = False  # a check-in went out within a day and this is the first reply
    reminders: Mapping[str, Any] | None = None  # scheduled reminders (bot/reminders/ledger.py); None: off
    epoch: str = ""  # the person's FORGET tombstone, if recent: work planned now carries it
    inbox: Mapping[str, Any] | None = None  # the open ticket, reply times (bot/inbox/); None: off


@dataclass(frozen=True)
class _Signal:
    """The kind the understanding decided, when the rules had no hint of their own."""

    kind: str
    locale: str


@dataclass(frozen=True)
class Outcome:
    state: State
    replies: tuple[Reply, ...]
    events: tuple[Event, ...] = ()
    signal: str | None = None

    @property
    def node(self) -> str:
        return self.state.node


@dataclass(frozen=True)
class Engine(MeaningRules):
    """The flow graph plus the language data the rules need; immutable and shared by all requests."""

    flow: Flow
    lexicons: Lexicons
    detect: Callable[[str], Any] = lambda text: None
    locate: Callable[[str], Any] | None = None
    # What a message means (bot.understanding: Understanding.read(text, locale) -> Meaning);
    # None: the keyword topics alone, as before intents.
    understand: Callable[[str, str | None], Any] | None = None
    handlers: Mapping[str, Callable] = field(default_factory=dict)
    # Nodes whose screen a hook draws with values of its own (Content.needs_params): BACK asks
    # the node's `screen:<id>` hook to draw it again, or passes over it if there is none.
    drawn_by_hooks: frozenset[str] = frozenset()

    def step(self, state: State | None, text: str, now: datetime,
             ctx: Context = Context()) -> Outcome:
        """Answer one message: emergency first, then commands, the screen's options, the
        emergency's updates, places, then what the words mean (bot/conversation/intents.py)."""
        first = state is None
        known = ctx.locale if ctx.locale in self.lexicons.by_locale else None
        state = state or State(locale=known or self.lexicons.default)
        before = state.locale
        text = (text or "")[:MAX_INPUT]
        folded = fold(text)
        state = replace(state, turns=state.turns + 1)
        guess = self.lexicons.guess(folded, state.locale)
        # Mid-conversation, BACK, MORE, MENU or THANKS is not a choice of language: "back" in a
        # Spanish conversation goes back in Spanish. Other words (AYUDA, BAJA, a sentence) still
        # answer in the language they are in, as does a first message.
        if guess is not None and (first or not self._keeps_language(folded, state.locale)):
            state = replace(state, locale=guess)
        meaning = self._meaning(text, folded, state)
        for rule in (self._signal, self._command, self._answer, self._pending, self._clarified,
                     self._option, self._update, self._place, self._intent, self._topic):
            outcome = rule(state, text, folded, now, ctx, first, meaning)
            if outcome is not None:
                break
        else:
            outcome = self._unknown(state, folded, first, meaning)
        if outcome.signal == "emergency" or self._shows_emergency(outcome):
            outcome = intents.mark_emergency(outcome, now)
        elif (meaning is not None and getattr(meaning, "unsure", False)
              and intents.unsure_line_fits(outcome)):
            outcome = self._unsure_line(outcome)
        after = self.handlers.get("after")  # e.g. an offer appended to the screen just shown
        # one YES per message: after the unsure line, YES means the steps, so no offer asks for one
        if after is not None and not any(r.key == intents.UNSURE_REPLY for r in outcome.replies):
            outcome = after(self, state, outcome, ctx, now)
        return self._note_language(outcome, before)

    @staticmethod
    def _unsure_line(outcome: Outcome) -> Outcome:
        """A possible emergency: one 911 line first, then the answer; a YES next gets the steps."""
        vars_ = dict(outcome.state.vars, **{intents.UNSURE: outcome.state.turns})
        return replace(outcome, state=replace(outcome.state, vars=vars_),
                       replies=(Reply(intents.UNSURE_REPLY),) + tuple(outcome.replies))

    def _is_command(self, folded: str, state: State) -> bool:
        return self.lexicons.command(folded, state.locale) is not None

    def _keeps_language(self, folded: str, locale: str) -> bool:
        hit = self.lexicons.command(folded, locale)
        return hit is not None and hit[0] in KEEP_LANGUAGE

    @staticmethod
    def _note_language(outcome: Outcome, before: str) -> Outcome:
        """A changed language is an event, so the host can remember it beyond this conversation."""
        if outcome.state.locale == before or any(e.name == "language" for e in outcome.events):
            return outcome
        event = Event("language", {"locale": outcome.state.locale})
        return replace(outcome, events=outcome.events + (event,))

    # --- moving between nodes -------------------------------------------------------------
    def enter(self, state: State, node_id: str, *, extra: tuple[Reply, ...] = (),
              params: Mapping | None = None, events: tuple[Event, ...] = (),
              signal: str | None = None, remember: bool = True) -> Outcome:
        """Go to a node: say its content, emit its events, remember where we came from."""
        node = self.flow.node(node_id)
        history = state.history
        if remember and state.node != node.id and node.id != MAIN:
            history = (history + (state.node,))[-MAX_HISTORY:]
        if node.id == MAIN:
            history = ()
        new = replace(state, node=node.id, history=history,
                      vars={k: v for k, v in state.vars.items() if k.startswith("keep_")})
        node_events = tuple(Event(name, {"node": node.id}) for name in node.events)
        reply = Reply(node.say, dict(params or {}))
        return Outcome(new, extra + (reply,), events + node_events, signal)

    def say(self, state: State, key: str, params: Mapping | None = None) -> Outcome:
        """One reply, staying where the person is."""
        return Outcome(state, (Reply(key, dict(params or {})),))

    def main_menu(self, state: State, extra: tuple[Reply, ...] = (), **kw) -> Outcome:
        return self.enter(state, MAIN, extra=extra, **kw)

    # --- the rules, in priority order ----------------------------------------------------
    def _signal(self, state, text, folded, now, ctx, first, meaning):
        """The full emergency steps (or the crisis screen) when the message is surely one; a
        YES to the unsure line ("Someone not breathing now? ... Reply YES") is one too."""
        if intents.answers_unsure(state, self.lexicons.command(folded, state.locale)):
            return self.enter(state, EMERGENCY, signal="emergency")
        signal, kind = self._kind(text, folded, meaning)
        if kind is None:
            return None
        if kind == "emergency" and meaning is not None and intents.in_emergency(state, now):
            update = intents.update_in(meaning, self.flow, danger=True)  # "still not breathing"
            if update is not None:
                return self.enter(state, intents.safer(update, meaning), signal=kind)
        if signal is None or signal.kind != kind:
            signal = _Signal(kind, state.locale)
        # The detector's hint decides only when nothing else has: no earlier choice, no clear words.
        if (first and ctx.locale is None and state.locale == self.lexicons.default
                and signal.locale in self.lexicons.by_locale):
            state = replace(state, locale=signal.locale)
        node = EMERGENCY if kind == "emergency" else CRISIS
        return self.enter(state, node, signal=kind)

    def _kind(self, text, folded, meaning):
        """(rule signal, "emergency" | "crisis" | None). The understanding has read the rules
        once (Meaning.read_rules) and weighed them with the classifier; an exact command or a
        number (no Meaning) is read by the rules alone, and only as now."""
        if meaning is None or not getattr(meaning, "read_rules", False):
            signal = self.detect(text)
            if signal is not None and getattr(signal, "frame", None) is not None:
                signal = None  # a past, what-if or everyday frame: never the steps on the rules alone
        else:
            signal = meaning.signal
        if meaning is None:
            return signal, signal.kind if signal is not None else None
        ruled = signal.kind if signal is not None and not getattr(meaning, "read_rules", False) \
            else None
        kind = ("emergency" if meaning.emergency or ruled == "emergency" else
                "crisis" if meaning.crisis or ruled == "crisis" else None)
        if (kind is None or intents.only_a_place(meaning, signal, folded)
                or intents.too_short_to_tell(meaning, signal, folded)
                or (kind == "emergency" and intents.only_a_question(meaning, signal, folded))):
            return signal, None  # the classifier alone on a place name or a word or two: too little
        return signal, kind

    def _command(self, state, text, folded, now, ctx, first, meaning):
        hit = self.lexicons.command(folded, state.locale)
        if hit is None:
            return None
        # the language was settled by step(): STOP or HELP never switch it
        return self.run_command(hit[0], state, ctx, now, folded)

    def run_command(self, name: str, state: State, ctx: Context, now: datetime,
                    folded: str) -> Outcome | None:
        """A command by its name: a host's hook first, then the engine's own, else None."""
        handler = self.handlers.get(f"command:{name}")
        if handler is not None:
            outcome = handler(self, state, ctx, now, folded)
            if outcome is not None:
                return outcome
        return getattr(self, f"_cmd_{name}", lambda *a: None)(state, ctx, folded)

    def _cmd_menu(self, state, ctx, folded):
        return self.main_menu(state)

    def _cmd_back(self, state, ctx, folded):
        history = state.history
        while history:
            previous, history = history[-1], history[:-1]
            back = replace(state, history=history)
            screen = self.handlers.get(f"screen:{previous}")
            outcome = screen(self, back, ctx) if screen is not None else None
            if outcome is not None:
                return outcome
            if previous not in self.drawn_by_hooks:
                return self.enter(back, previous, remember=False)
        return self.main_menu(state)

    def _cmd_more(self, state, ctx, folded):
        """MORE on a screen that says "Reply 1 more steps" (flows: `more: 1`) is that option;
        paging places is the nearby hook's, which looks first."""
        node = self.flow.node(state.node)
        target = node.target(node.more) if node.more else None
        return self.enter(state, target) if target else None

    def _cmd_thanks(self, state, ctx, folded):
        return Outcome(state, (Reply("ack.thanks"),))

    def _cmd_help(self, state, ctx, folded):
        return Outcome(state, (Reply("help.info"),))

    def _cmd_stop(self, state, ctx, folded):
        replies = () if ctx.opted_out else (Reply("optout.confirm"),)
        return Outcome(replace(state, node=MAIN, history=()), replies, (Event("opt_out"),))

    def _cmd_start(self, state, ctx, folded):
        if ctx.opted_out:
            return self.main_menu(state, extra=(Reply("optout.resumed"),),
                                  events=(Event("opt_in"),))
        return self.main_menu(state)

    def _cmd_yes(self, state, ctx, folded):
        if ctx.opted_out:
            return self._cmd_start(state, ctx, folded)
        return None

    def _cmd_language(self, state, ctx, folded):
        locale = self.lexicons.language_for(folded) or state.locale
        return self.main_menu(replace(state, locale=locale), events=(Event("language", {"locale": locale}),))

    def _answer(self, state, text, folded, now, ctx, first, meaning):
        """A reply to something the host sent (a check-in's "Reply 1, 2, 3") reads as its answer."""
        handler = self.handlers.get("answer")
        return handler(self, state, text, now, ctx) if handler else None

    def _pending(self, state, text, folded, now, ctx, first, meaning):
        """A screen that waits for typed input (a place, a time) gets first look at it, after
        the answer to an offer the screen made ("tomorrow 9am"), which looks before it."""
        offer = state.vars.get(OFFER)
        offered = offer.get("node") if isinstance(offer, Mapping) else None
        kinds = [self.flow.nodes[offered].expects if offered in self.flow.nodes else None,
                 self.flow.node(state.node).expects]
        for kind in filter(None, kinds):
            handler = self.handlers.get(f"expects:{kind}")
            outcome = handler(self, state, text, now, ctx) if handler else None
            if outcome is not None:
                return outcome
        return None

    def _option(self, state, text, folded, now, ctx, first, meaning):
        node = self.flow.node(state.node)
        key = folded.replace(" ", "")
        if not key.isdigit() or len(key) > 2:
            return None
        target = node.target(key)
        if target is None:
            return Outcome(state, (Reply("hint.bad_number", {"node": node.id}),))
        return self.enter(state, target)

    def _topic(self, state, text, folded, now, ctx, first, meaning):
        hit = self.lexicons.topic(folded, state.locale)
        if hit is None:
            return None
        node, locale = hit
        if first and locale != state.locale:
            state = replace(state, locale=locale)
        return self.enter(state, node)

    def _unknown(self, state, folded, first, meaning=None):
        """Never a dead end. Candidates the understanding was unsure of: a clarifying question
        with numbered choices. Else a short hint (it starts with the overdose line) and the menu
        (just the menu for a first hello). An OK that answered nothing is acknowledged."""
        found = (intents.choices(meaning, self.flow, state.node)
                 if meaning is not None and not self._is_command(folded, state) else [])
        if found:
            state = replace(state, vars=intents.clarify_vars(state, found))
            return Outcome(state, (Reply("clarify.ask", {"choices": found}),))
        if first:
            return self.main_menu(state)
        hit = self.lexicons.command(folded, state.locale)
        if hit is not None and hit[0] == "ok":
            return Outcome(state, (Reply("ack.ok"),))
        return self.main_menu(state, extra=(Reply("hint.unknown"),))
