"""The console's simulator: text or call the real engine from the browser, as a test number.

Texts go through a Conversations built from the helpline's own engine and content (the code
path of POST /sms), calls through the PhoneTree and TwiML renderer of POST /voice. What keeps
tests apart from real people:
- subjects come from a Vault with its own key and carry the "sim-" prefix (hl:s:sim-...), so a
  test number can never share state with a real one, even if it is a real number;
- the store never counts screens, and the usage counters, check-in and reminder writes are not
  installed: nothing is scheduled or sent, and nothing reaches the dashboard. A YES to check-ins
  or a booked reminder is kept for the test number only, so it can be fast-forwarded
  (fastforward.py): shown now, and its reply read as on a real phone.
"""
from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone

from bot.channels.conversations import Conversations
from bot.console import fastforward, keys
from bot.conversation.content import segments
from bot.privacy.vault import Vault
from bot.storage.store import Store, session_key, language_key
from bot.channels.callers import textable
from bot.voice.phone_tree import LANGUAGE, NO_TEXT, OPTED_OUT, TEXTED, Call, Heard
from bot.voice.twiml import render

LOG_TTL = 3600
LOG_KEEP = 60


class SimVault(Vault):
    """Keyed hashes under the simulator's own key, marked with the sim- prefix."""

    def subject(self, number: str) -> str:
        return keys.SIM_PREFIX + super().subject(number)


class SimStore(Store):
    """The real store, except that test conversations are never counted."""

    def count_visit(self, node, now, pipe=None) -> None:
        return None

    def count_move(self, came_from, node, now, pipe) -> None:
        return None



@dataclass(frozen=True)
class Bubble:
    who: str  # "you" or "line"
    text: str
    screen: str = ""
    encoding: str = ""
    segments: int = 0
    listens: str = ""  # for calls: what the line listens for (keys, words)
    locale: str = ""   # the line's language, so the page marks Spanish as Spanish


def new_number() -> str:
    """A test number from ten million: North America's area code 555 is not in service, so it is
    nobody's, and two staff members' simulations do not meet on one number."""
    return f"+1555{secrets.randbelow(10 ** 7):07d}"


class Simulator:
    def __init__(self, helpline, tree=None):
        self.helpline = helpline
        self.tree = tree
        settings = helpline.settings
        self.vault = SimVault(settings.secret + "|console-simulator")
        self.store = SimStore(helpline.redis, settings.session_ttl, settings.dedupe_ttl)
        self.conversations = Conversations(helpline.engine, helpline.content, self.store,
                                           self.vault, context_facts=[fastforward.facts()],
                                           tx_writes=[fastforward.write], limit=None)

    # --- texts ---------------------------------------------------------------------------
    def text(self, number: str, body: str) -> list[Bubble]:
        now = datetime.now(timezone.utc)
        answer = self.conversations.handle(number, body, now, channel="sms")
        node = answer.outcome.state.node if answer.outcome else ""
        locale = answer.outcome.state.locale if answer.outcome else ""
        bubbles = [Bubble("you", body)]
        for message in answer.messages:
            seg = segments(message)
            bubbles.append(Bubble("line", message, node, seg.encoding, seg.count, locale=locale))
        self._append(number, "sms", bubbles)
        return bubbles

    # --- fast-forward: the check-in or reminder a real number would get later --------------
    def planned(self, number: str) -> dict:
        return fastforward.state(self.helpline.redis, self.vault.subject(number))

    def fast_forward(self, number: str, what: str) -> list[Bubble]:
        send = fastforward.checkin_now if what == "checkin" else fastforward.reminder_now
        sent = send(self.helpline.redis, self.helpline.content, self.vault.subject(number))
        if sent is None:
            return []
        text, locale = sent
        seg = segments(text)
        bubbles = [Bubble("line", text, f"{what} (sent now)", seg.encoding, seg.count,
                          locale=locale)]
        self._append(number, "sms", bubbles)
        return bubbles

    # --- calls ---------------------------------------------------------------------------
    def call(self, number: str, digits: str = "", speech: str = "", start: bool = False):
        """One step of a simulated call: the line's words and keys, as the webhook would say them."""
        subject = self.vault.subject(number)
        key = keys.sim_call(subject)
        raw = self.helpline.redis.get(key)
        if start or raw is None:
            call, heard = self.tree.call_at(LANGUAGE, "", 0), Heard(start=True)
        else:
            call = Call.from_dict(json.loads(raw))
            heard = Heard(digits=digits[:10], speech=speech[:500])
        new, plan = self.tree.answer(call, heard, datetime.now(timezone.utc),
                                     lambda: self._texting(number))
        self.helpline.redis.set(key, json.dumps(new.to_dict()), ex=LOG_TTL)
        xml = render(plan, self.helpline.content, self.helpline.settings,
                     {"step": "/voice/step", "dial": "/voice/dial"})
        said, listens = _read_twiml(xml)
        you = [] if start or raw is None else [Bubble("you", digits or speech or "(silence)")]
        locale = new.state.locale
        bubbles = you + [Bubble("line", " ".join(said), new.state.node, listens=listens,
                                locale=locale)]
        if plan.text:  # 8: the real line queues this text now; the simulator only shows it
            seg = segments(plan.text["body"])
            bubbles.append(Bubble("line", "(would text the caller) " + plan.text["body"],
                                  new.state.node, seg.encoding, seg.count, locale=locale))
        if plan.remind:  # 7: the real line books it for tomorrow morning; nothing is booked here
            bubbles.append(Bubble("line", "(would text this screen tomorrow morning; nothing is "
                                          "booked for a test number)", new.state.node))
        self._append(number, "voice", bubbles)
        return bubbles

    def _texting(self, number: str) -> str:
        """As POST /voice decides whether 7 and 8 may text the caller: not after STOP."""
        if not textable(number):
            return NO_TEXT
        return OPTED_OUT if self.store.is_opted_out(self.vault.subject(number)) else TEXTED

    # --- log, reset, language ------------------------------------------------------------
    def _append(self, number: str, channel: str, bubbles: list[Bubble]) -> None:
        key = keys.sim_log(self.vault.subject(number))
        pipe = self.helpline.redis.pipeline()
        for b in bubbles:
            pipe.rpush(key, json.dumps(dict(b.__dict__, channel=channel)))
        pipe.ltrim(key, -LOG_KEEP, -1)
        pipe.expire(key, LOG_TTL)
        pipe.execute()

    def transcript(self, number: str) -> list[dict]:
        key = keys.sim_log(self.vault.subject(number))
        return [json.loads(x) for x in self.helpline.redis.lrange(key, 0, -1)]

    def reset(self, number: str, locale: str | None = None) -> None:
        """Forget the test conversation; start the next one in `locale` when given."""
        subject = self.vault.subject(number)
        self.store.forget(subject)
        self.helpline.redis.delete(keys.sim_log(subject), keys.sim_call(subject),
                                   keys.sim_ff(subject), session_key(subject),
                                   language_key(subject))
        if locale:
            self.store.set_language(subject, locale)


def _read_twiml(xml: str) -> tuple[list[str], str]:
    """What a caller hears, and what the line listens for (keys, a ZIP, or nothing)."""
    root = ET.fromstring(xml)
    said, listens = [], ""
    for verb in root.iter():
        if verb.tag == "Say" and verb.text:
            said.append(verb.text)
        elif verb.tag == "Gather":
            listens = ("keys until #, or words" if verb.get("finishOnKey")
                       else "one key, or words")
            if verb.get("hints"):
                listens += f" (hints: {verb.get('hints')})"
        elif verb.tag == "Dial":
            said.append(f"(connects the caller to {verb.text})")
        elif verb.tag == "Hangup":
            said.append("(hangs up)")
    return said, listens
