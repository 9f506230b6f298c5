"""The phone line's logic: a caller's answer in, the next thing to say out. No HTTP, no Redis.

The SMS engine and flows/ decide where a caller goes, so the menus exist once. This module adds
only what a phone needs: a language step, keys that mean the same on every screen (* repeat,
0 menu, 8 text me this, 9 emergency; 7 a text reminder tomorrow on screens that offer one),
re-prompts on silence, and the dial to a live line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable, Mapping

from bot.conversation.content import Content
from bot.conversation.engine import EMERGENCY, MAIN, Context, Engine, Outcome, Reply, State
from bot.conversation.intents import UPDATES, mark_emergency
from bot.understanding.keywords import fold
from bot.voice.words import Words, load_words

LANGUAGE, MENU = "language", "menu"   # a call's phase: the language step, then the menus
DIAL_NODE = "talk"                    # entering this node connects the caller to LIVE_LINE_NUMBER
CRISIS_DIAL_NODE = "crisis_line"      # and this one (after a crisis) to CRISIS_LINE_NUMBER: 988
DIAL_NODES = (DIAL_NODE, CRISIS_DIAL_NODE)
REPEAT, TEXT_ME, EMERGENCY_KEY, REMIND_KEY = "*", "8", "9", "7"
# The offer node of flows/reminders.yaml (bot/reminders/flow.py names it too; reminders imports
# this module for REMIND_KEY, so the name is not imported back).
REMINDER_OFFER = "reminder_offer"
RESERVED_KEYS = (TEXT_ME, EMERGENCY_KEY)  # the same on every screen, so flows must not use them
MISS_HINTS = ("hint.unknown", "hint.bad_number")
EMERGENCY_REPEATS = 20                # silence repeats the steps this often (~15 min), then goodbye
GATHER, DIAL, HANGUP = "gather", "dial", "hangup"
TIMEOUT, SHORT_TIMEOUT = 6, 3         # seconds of silence before a re-prompt; language & emergency
TEXTED, OPTED_OUT, NO_TEXT = "ok", "opted_out", "unavailable"
VOICE = Context(channel="voice")
# Engine hooks that make sense by voice: places and paging. Texting features (check-in sign-up,
# its commands and typed choices) stay SMS-only; their screens are read, their choices are not.
VOICE_HANDLERS = ("place", "place:named", "expects:place", "command:menu", "command:back", "command:more",
                  "command:language", "screen:nearby")


@dataclass(frozen=True)
class Heard:
    """One answer from the line: a key, words, a dial result, the call's start, or silence."""

    digits: str = ""
    speech: str = ""
    dial: str = ""
    start: bool = False


@dataclass(frozen=True)
class Line:
    """One thing to say: a content key, its parameters, and the language (and so the voice)."""

    key: str
    params: Mapping = field(default_factory=dict)
    locale: str = "en"


@dataclass(frozen=True)
class Plan:
    """What the line does next: say the lines, then listen, connect to the live line, or hang up."""

    lines: tuple[Line, ...]
    then: str = GATHER
    locale: str = "en"
    hints: str = ""
    timeout: int = TIMEOUT
    text: Mapping | None = None
    zip_entry: bool = False  # a screen that takes a ZIP code: keys until #, not one digit  # {"node", "locale", "body"}: an SMS to send once this step commits
    remind: Mapping | None = None  # {"node", "key", "params", "locale"}: a reminder to book then
    dial_to: str = ""  # with then=DIAL: "crisis" dials CRISIS_LINE_NUMBER, else LIVE_LINE_NUMBER


@dataclass(frozen=True)
class Call:
    """A call's record in Redis: where the caller is, the step counter, the screen to repeat."""

    state: State
    n: int = 0
    phase: str = LANGUAGE
    misses: int = 0
    loops: int = 0
    screen: tuple[Reply, ...] = ()
    reply: Mapping | None = None  # the last answer {"n", "xml", "text"}, for a retried webhook

    def to_dict(self) -> dict:
        return {"state": self.state.to_dict(), "n": self.n, "phase": self.phase,
                "misses": self.misses, "loops": self.loops, "reply": self.reply,
                "screen": [[r.key, dict(r.params)] for r in self.screen]}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Call":
        return cls(State.from_dict(data.get("state")), int(data.get("n", 0)),
                   str(data.get("phase", MENU)), int(data.get("misses", 0)),
                   int(data.get("loops", 0)),
                   tuple(Reply(str(k), dict(p or {})) for k, p in data.get("screen") or ()),
                   data.get("reply"))


def voice_engine(engine: Engine) -> Engine:
    """The SMS engine with phone rules: HELP means an emergency; STOP opts nobody out of texts."""
    kept = {name: handler for name, handler in engine.handlers.items() if name in VOICE_HANDLERS}
    kept["command:help"] = _spoken_help
    kept["command:stop"] = _not_a_command
    return replace(engine, handlers=kept)


SPOKEN_HELP_WORDS = 6   # "help", "help me please", "i need help now": an emergency on a call


def _spoken_help(engine: Engine, state: State, ctx, now, folded: str) -> Outcome:
    """A spoken "help" (the word, or a short plea) is an emergency on a call. A long sentence the
    classifier read as a question about the service ("im not really sure how this works what
    can you help me with") gets the one 911 line, then the menu: when in doubt, never silence."""
    if (engine.lexicons.command(folded, state.locale) is not None
            or len(folded.split()) < SPOKEN_HELP_WORDS):
        return engine.enter(state, EMERGENCY, signal="emergency")
    return engine._unsure_line(engine.main_menu(state))


def _not_a_command(engine: Engine, state: State, ctx, now, folded: str) -> Outcome:
    """A spoken "stop" or "quit" is ordinary words on a call: a topic if one fits, else a hint."""
    hit = engine.lexicons.topic(folded, state.locale)
    if hit:
        return engine.enter(state, hit[0])
    return engine.main_menu(state, extra=(Reply("hint.unknown"),))


@dataclass(frozen=True)
class PhoneTree:
    """The phone menus, built once per process from the engine and the content."""

    engine: Engine
    content: Content
    words: Mapping[str, Words]
    voices: tuple[str, ...]  # languages offered at the start, in key order (1, 2, ...)
    texts: bool = True  # OUTBOUND_TEXTS: False, and 8 "text me this" is neither offered nor done

    @classmethod
    def build(cls, engine: Engine, content: Content, voiced: tuple[str, ...],
              texts: bool = True) -> "PhoneTree":
        keys = content.keys()
        offered = [content.default] + [loc for loc in content.locales if loc != content.default]
        voices = tuple(loc for loc in offered
                       if loc in voiced and f"voice.language.{loc}" in keys)
        return cls(voice_engine(engine), content, load_words(content), voices, texts)

    def call_at(self, at: str, locale: str, n: int) -> Call:
        """A call rebuilt from its action URL when Redis lost (or never had) its record."""
        locale = locale if locale in self.engine.lexicons.by_locale else self.content.default
        if at == LANGUAGE or at not in self.engine.flow.nodes:
            return Call(State(locale=locale), n, LANGUAGE if at == LANGUAGE else MENU)
        node = self.engine.flow.node(at)
        if not self._speakable(node.say, locale):  # its words need what only Redis knew
            node = self.engine.flow.node(self.engine.flow.start)
        return Call(State(node=node.id, locale=locale), n, MENU, screen=(Reply(node.say),))

    def _speakable(self, key: str, locale: str) -> bool:
        """A screen that can be said without parameters (the nearest places cannot)."""
        try:
            self.content.render(key, locale, "voice")
            return True
        except Exception:  # a missing parameter: jinja2's StrictUndefined
            return False

    # --- one step --------------------------------------------------------------------------
    def answer(self, call: Call, heard: Heard, now: datetime,
               texting: Callable[[], str] = lambda: NO_TEXT) -> tuple[Call, Plan]:
        """The next record and what to say, for one answer at step call.n."""
        call = replace(call, n=call.n + 1)
        key = self.key_for(heard, call.state.locale)
        if heard.start or (call.phase == LANGUAGE and key == REPEAT):
            return self.show(replace(call, phase=LANGUAGE))
        if heard.dial:
            return self._dialed(call, heard.dial)
        if key == EMERGENCY_KEY:  # the emergency window opens as by text (conversation/intents.py)
            outcome = self.engine.enter(call.state, EMERGENCY, signal="emergency")
            return self._go(call, mark_emergency(outcome, now))
        if call.phase == LANGUAGE:
            return self._choose_language(call, key, heard, now)
        if key == REPEAT:
            return self.show(replace(call, misses=0))
        if key == TEXT_ME:
            return self._text_me(call, texting)
        if key == REMIND_KEY and self.remindable(call):
            return self._remind_me(call, texting)
        if key or heard.speech:
            return self._go(call, self.engine.step(call.state, key or heard.speech, now, VOICE))
        return self._silence(call)

    def key_for(self, heard: Heard, locale: str) -> str:
        """The key pressed, or the key a short spoken answer names ("two", "repeat", "help")."""
        if heard.digits:
            return heard.digits  # one key, or a whole ZIP code on a screen that asks for one
        folded = fold(heard.speech)
        if re.fullmatch(r"[0-9]", folded):
            return folded
        return self.words_for(locale).keys.get(folded, "")

    def _choose_language(self, call: Call, key: str, heard: Heard, now: datetime):
        if key and key.isdigit() and 0 < int(key) <= len(self.voices):
            return self._menu(call, self.voices[int(key) - 1])
        spoken = fold(heard.speech)
        locale = self.engine.lexicons.language_for(spoken) if spoken else None
        if locale or not spoken:
            return self._menu(call, locale or self.content.default)
        outcome = self.engine.step(None, heard.speech, now, VOICE)
        if any(r.key in MISS_HINTS for r in outcome.replies):
            outcome = self.engine.main_menu(outcome.state)
        return self._go(replace(call, phase=MENU), outcome)

    def _menu(self, call: Call, locale: str):
        outcome = self.engine.main_menu(replace(call.state, locale=locale))
        return self._go(replace(call, phase=MENU), outcome)

    def _go(self, call: Call, outcome: Outcome) -> tuple[Call, Plan]:
        hints = [r for r in outcome.replies if r.key in MISS_HINTS]
        if hints:
            return self._miss(call, hints[0])
        return self.show(replace(call, state=outcome.state, phase=MENU, misses=0, loops=0,
                                 screen=tuple(outcome.replies)))

    def _miss(self, call: Call, hint: Reply) -> tuple[Call, Plan]:
        """Silence or a wrong key: say the screen again once, then offer the main menu."""
        misses = call.misses + 1
        if misses == 1:
            return self.show(replace(call, misses=1), extra=(hint,))
        outcome = self.engine.main_menu(call.state)
        call = replace(call, state=outcome.state, screen=tuple(outcome.replies), misses=misses)
        return self.show(call, extra=(hint, Reply("voice.start_over")))

    def _silence(self, call: Call) -> tuple[Call, Plan]:
        if call.state.node == EMERGENCY:  # the steps repeat until the caller presses a key
            if call.loops + 1 >= EMERGENCY_REPEATS:
                return self._goodbye(call)
            return self.show(replace(call, loops=call.loops + 1))
        if call.misses >= 2:
            return self._goodbye(call)
        return self._miss(call, Reply("voice.no_input"))

    def _goodbye(self, call: Call) -> tuple[Call, Plan]:
        locale = call.state.locale
        return call, Plan((Line("voice.goodbye", {}, locale),), HANGUP, locale)

    def _dialed(self, call: Call, status: str) -> tuple[Call, Plan]:
        """After the live line: goodbye if they talked, else say so and offer the menu again."""
        if status == "completed":
            locale = call.state.locale
            return call, Plan((Line("voice.dial_done", {}, locale),), HANGUP, locale)
        outcome = self.engine.main_menu(call.state)
        call = replace(call, state=outcome.state, phase=MENU, misses=0,
                       screen=tuple(outcome.replies))
        return self.show(call, extra=(Reply("voice.dial_failed"),))

    def _text_me(self, call: Call, texting: Callable[[], str]) -> tuple[Call, Plan]:
        if not self.textable(call):
            return self._miss(call, Reply("hint.bad_number"))
        locale = call.state.locale
        body = "\n\n".join(self.content.render(r.key, locale, "sms", r.params) for r in call.screen)
        return self._by_text(call, texting(), "voice.text_sent",
                             text={"node": call.state.node, "locale": locale, "body": body})

    def _remind_me(self, call: Call, texting: Callable[[], str]) -> tuple[Call, Plan]:
        """7: the screen the caller heard, texted tomorrow morning (bot/reminders/ledger.py books it)."""
        screen = call.screen[-1]
        return self._by_text(call, texting(), "voice.remind_set", remind={
            "node": call.state.node, "key": screen.key, "params": dict(screen.params),
            "locale": call.state.locale})

    def _by_text(self, call: Call, status: str, done: str, **payload) -> tuple[Call, Plan]:
        """After 8 or 7: what happens, then the keys; the payload only when we may text them."""
        locale, node = call.state.locale, call.state.node
        said = {TEXTED: done, OPTED_OUT: "voice.text_opted_out"}.get(status, "voice.text_unavailable")
        controls = {"text": False, "main": False, "loop": node == EMERGENCY}
        plan = self._listen(call, (Line(said, {}, locale), Line("voice.controls", controls, locale)))
        if status == TEXTED:
            plan = replace(plan, **payload)
        return replace(call, misses=0), plan

    # --- what a screen sounds like ---------------------------------------------------------
    def show(self, call: Call, extra: tuple[Reply, ...] = ()) -> tuple[Call, Plan]:
        """The current screen: extra hints, the node's words, its prompt, the standard keys."""
        if call.phase == LANGUAGE:
            return call, self._languages()
        node = self.engine.flow.node(call.state.node)
        locale = call.state.locale
        lines = [Line(r.key, r.params, locale) for r in extra + call.screen]
        if node.id in DIAL_NODES:
            return call, Plan(tuple(lines), DIAL, locale,
                              dial_to="crisis" if node.id == CRISIS_DIAL_NODE else "")
        shown = bool(call.screen) and call.screen[-1].key == node.say  # not a question of ours
        if shown and f"voice.prompt.{node.id}" in self.content.keys():
            lines.append(Line(f"voice.prompt.{node.id}", {}, locale))
        controls = {"text": self.textable(call), "main": node.id == MAIN,
                    "loop": node.id == EMERGENCY, "remind": self.remindable(call)}
        lines.append(Line("voice.controls", controls, locale))
        return call, self._listen(call, tuple(lines))

    def _listen(self, call: Call, lines: tuple[Line, ...]) -> Plan:
        node = self.engine.flow.node(call.state.node)
        timeout = SHORT_TIMEOUT if node.id == EMERGENCY else TIMEOUT
        return Plan(lines, GATHER, call.state.locale, self.hints(node.id, call.state.locale),
                    timeout, zip_entry=node.expects == "place")

    def _languages(self) -> Plan:
        """Each language greets in its own voice, 911 first, then says its key: a Spanish caller
        hears the 911 line in Spanish before any choice (issue 24)."""
        default = self.content.default
        lines = [line for i, loc in enumerate(self.voices, 1)
                 for line in (Line("voice.welcome", {}, loc),
                              Line(f"voice.language.{loc}", {"key": i}, loc))]
        names = [w for loc in self.voices
                 for w in sorted(self.engine.lexicons.get(loc).commands.get("language", ()))]
        hints = ", ".join(dict.fromkeys(names + list(self.words_for(default).hints)))
        return Plan(tuple(lines), GATHER, default, hints, SHORT_TIMEOUT)

    def textable(self, call: Call) -> bool:
        """Information screens can be texted; the main menu and the dial cannot."""
        node = self.engine.flow.node(call.state.node)
        return (self.texts and call.phase == MENU and node.id not in (MAIN, *DIAL_NODES)
                and bool(call.screen)
                and call.screen[-1].key == node.say)

    def remindable(self, call: Call) -> bool:
        """Screens whose node offers a reminder (flows: `offer: reminder_offer`), as by text."""
        node = self.engine.flow.node(call.state.node)
        return self.textable(call) and node.offer == REMINDER_OFFER

    def hints(self, node_id: str, locale: str) -> str:
        """Speech hints: words that open each option's screen, then the words for keys."""
        lexicon = self.engine.lexicons.get(locale)
        phrases: list[str] = []
        for option in self.engine.flow.node(node_id).options:
            alternatives = [alt for target, pattern in lexicon.topics
                            if target == option.goto and len(pattern.groups) == 1
                            for alt in pattern.groups[0]]
            phrases += alternatives[:2]
        if node_id == EMERGENCY or node_id in UPDATES.values():  # what callers say next
            phrases += self.words_for(locale).updates
        phrases += self.words_for(locale).hints
        return ", ".join(dict.fromkeys(p for p in phrases if p))

    def words_for(self, locale: str) -> Words:
        return self.words.get(locale) or self.words[self.content.default]
