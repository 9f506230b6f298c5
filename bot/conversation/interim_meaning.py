"""TEMPORARY stand-in for bot.understanding.meaning (issue 17a), on the existing rules.

Same API as docs/../notes UNDERSTANDING_CONTRACT: Understanding.from_dir(...).read(text, locale)
-> Meaning(emergency, crisis, intents, confident, place). Built from the emergency/crisis rules
(SignalDetector), the topic words of keywords.yaml, and a short table of phrases below, so the
engine can route by intents before the trained model lands. bot/helpline.py uses the real class
as soon as it exists; delete this file then.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from bot.understanding.keywords import Lexicons, fold
from bot.understanding.signals import SignalDetector

THRESHOLD = 0.6
TOPIC = 0.88  # a menu topic word (keywords.yaml) outranks a loose phrase, not a precise one
# Rules that fire on a word ("911", "overdosing") rather than on a person in danger: a question
# about the law or the signs that uses such a word is not an emergency.
WEAK_RULES = frozenset({"call_911", "call_for_help", "overdosing", "overdose_word",
                        "overdose_now", "having_overdose", "naloxone_now", "llama_911",
                        "ambulancia", "sobredosificando", "narcan_ya"})
QUESTIONS = ("legal", "overdose_signs", "naloxone_safe", "naloxone_otc", "naloxone_what")
NARCAN = r"(?:narcan|narcn|narcam|naloxone|naloxona|nalaxone|narcon)"
# (intent, score, pattern over folded text); English and Spanish together, people switch.
PHRASES: tuple[tuple[str, float, str], ...] = (
    ("legal", 0.95, r"\b(?:trouble|arrest\w*|charged|charges|jail|deport\w*|warrant|probation|"
                    r"parole|prosecut\w*|immigration|la migra|problemas|arrest\w*|carcel|"
                    r"policia|ley|good samaritan|buen samaritano)\b"),
    ("overdose_signs", 0.9, r"\bhow (?:do|can|would) (?:i|you) (?:know|tell)\b|\bsigns?\b|"
                            r"\bsymptoms?\b|\bsenales\b|\bsintomas\b|\bcomo (?:se|saber|se si)\b"
                            r"|\bwhat does (?:an )?overdose look"),
    ("overdose_steps", 0.8, r"\bwhat (?:do|should) (?:i|you|we) do if\b|\bque (?:hago|hacer) si\b"
                            r"|\bhow (?:do i|to|can i) (?:help|save) (?:someone|a person)\b"),
    ("naloxone_safe", 0.95, NARCAN + r" (?:\w+ ){0,6}(?:hurt|harm|safe|dangerous|side effects|"
                            r"kill|dano|segur[oa]|peligros[oa])\b"),
    ("naloxone_otc", 0.95, r"\bover the counter\b|\botc\b|\bprescription\b|\breceta\b|"
                           r"\bwithout a script\b|" + NARCAN + r" (?:\w+ ){0,6}(?:cost|costs|price|"
                           r"insurance|cuesta|precio|seguro)\b|\bhow much (?:is|does) " + NARCAN),
    ("naloxone_where", 0.9, r"\b(?:where|get|find|buy|near|nearby|donde|consigo|conseguir|"
                            r"comprar|cerca|pick up)\b (?:\w+ ){0,6}" + NARCAN + r"|" + NARCAN +
                            r" (?:\w+ ){0,3}(?:near|cerca|en|in|around)\b"),
    ("update_no_naloxone", 0.9, r"\b(?:dont|do not|dnt|dont have|didnt|no|without|dont got|"
                                r"aint got|got no|no tengo|no tenemos|sin|out of)\b (?:\w+ ){0,3}"
                                + NARCAN + r"|\bwithout it\b|\bno (?:la|lo) tengo\b"),
    ("naloxone_use", 0.85, r"\bhow (?:do (?:i|you)|to) (?:use|give|spray)\b|\bcomo (?:se )?(?:usa|"
                           r"uso|doy|da|usar|dar)\b"),
    ("naloxone_what", 0.85, r"\bwhat (?:is|s) " + NARCAN + r"|\bque es (?:el |la )?" + NARCAN),
    ("tx_meds", 0.9, r"\b(?:methadone|metadona|suboxone|subs|bupe|buprenorphine|buprenorfina|"
                     r"naltrexone|naltrexona|vivitrol|moud|mat)\b"),
    ("tx_find", 0.9, r"\b(?:rehab|detox|treatment|program|programa|tratamiento|centro)\b (?:\w+ )"
                     r"{0,3}(?:near|cerca|in|en|around)\b|\bfind (?:a )?(?:rehab|detox|program|"
                     r"treatment)\b|\bwait ?list\b"),
    ("treatment", 0.8, r"\b(?:quit|quitting|get clean|get sober|rehab|detox|treatment|dejar de|"
                       r"tratamiento|recovery)\b"),
    ("fentanyl_xylazine", 0.9, r"\b(?:fentanyl|fent|fetty|xylazine|tranq|fentanilo|xilacina)\b"),
    ("safer", 0.85, r"\btest strips?\b|\bnever use alone\b|\btiras\b|\bsafer\b|\bclean (?:needles|"
                    r"syringes|works)\b|\bsyringes?\b|\bjeringas?\b|\bmas seguro\b"),
    ("talk", 0.85, r"\btalk to (?:someone|somebody|a person|a human|a counselor)\b|\blonely\b|"
                   r"\bhablar con (?:alguien|una persona)\b|\bcounselor\b|\bsola?\b"),
    ("checkin_stop", 0.95, r"\b(?:dont|do not|no longer|no) (?:want|need) (?:these|them|the|any|"
                           r"those|your)? ?(?:texts|messages|check ?ins?)? ?(?:any ?more|no more)"
                           r"|\b(?:stop|cancel|end|quit) (?:the |my |all )?check ?ins?\b|\bno more "
                           r"check ?ins?\b|\bya no quiero (?:estos|los|mas)\b|\bcancela\w* (?:los )?"
                           r"(?:check ?ins?|mensajes)\b"),
    ("checkin_start", 0.9, r"\bsign (?:me )?up\b|\bcheck on me (?:every|each|daily)\b|"
                           r"\binscrib\w*\b|\bquiero (?:los )?check ?ins?\b"),
    ("checkin_pause", 0.9, r"\bpause\b|\bpausa\w*\b|\btake a break from\b"),
    ("checkin_status", 0.85, r"\bmy check ?ins?\b|\bwhen (?:is|do i get) my next check ?in\b"),
    ("reminder", 0.9, r"\bremind me\b|\bcheck on me (?:later|in|tomorrow|tonight)\b|"
                      r"\brecuerd(?:a|e)me\b"),
    ("forget", 0.95, r"\b(?:delete|erase|forget|remove|borra\w*) (?:\w+ ){0,2}(?:data|info|"
                     r"information|number|datos|numero|history|historial)\b"),
    ("help", 0.85, r"\bwhat is this\b|\bwho are you\b|\bwhat (?:is|s) this (?:number|service)\b|"
                   r"\bque es esto\b|\bquien eres\b"),
    ("thanks", 0.9, r"\b(?:thanks|thank you|thx|gracias)\b"),
    ("greeting", 0.7, r"^(?:hi|hello|hey|hola|buenas|good (?:morning|evening))\b"),
    # Emergency updates: meaningful while a conversation is in an emergency (the engine decides).
    ("update_not_breathing", 0.95, r"\b(?:still|todavia|sigue|aun) (?:\w+ ){0,2}(?:not|no|sin|isnt)"
                                   r" (?:\w+ ){0,2}(?:breath\w*|respir\w*|wak\w*|respond\w*|"
                                   r"despiert\w*|reacciona\w*)|" + NARCAN +
                                   r" (?:\w+ ){0,3}(?:didnt|did not|not|isnt|no|doesnt) (?:\w+ )"
                                   r"{0,1}(?:work\w*|help\w*|funcion\w*|sirv\w*)|\bnothing "
                                   r"(?:happened|changed)\b"),
    ("update_breathing", 0.9, r"^(?!.*\b(?:not|no|isnt|stopped|cant|aint|barely|sin)\b).*\b(?:"
                              r"(?:is|s|hes|shes|theyre|started|start|now|again) breath\w*|"
                              r"breath\w* (?:now|again|a little|better|on (?:his|her|their) own)|"
                              r"(?:ya |esta |empezo a )respir\w*|respira (?:un poco|otra vez|"
                              r"de nuevo|ya|mejor))"),
    ("update_called_911", 0.9, r"\b(?:called|dialed|calld|just called|already called|llame|"
                               r"llamamos|llamaron) (?:\w+ ){0,2}(?:911|ambulance|ambulancia|"
                               r"them)\b|\b(?:ambulance|ems|paramedics|they|ambulancia|paramedicos)"
                               r" (?:\w+ ){0,2}(?:on the way|coming|en camino|viene\w*)\b|"
                               r"\bya llame\b"),
    ("update_help_arrived", 0.9, r"\b(?:ambulance|ems|emts?|paramedics|police|cops|medics|"
                                 r"firefighters|fire department|help|they|ambulancia|paramedicos|"
                                 r"policia)\b (?:\w+ ){0,2}(?:here|arrived|ya llego|llegaron|"
                                 r"llego|esta aqui|estan aqui|aqui)\b|\b(?:ya )?llegaron\b"),
    ("update_woke_up", 0.9, r"^(?!.*\b(?:not|no|isnt|wont|cant|didnt|doesnt|aint|never)\b.*"
                            r"\b(?:wak|woke|despiert|despert))(?:.*)(?:\b(?:woke|woken|waking|wakes|came) (?:\w+ )?(?:up|to|around)\b|"
                            r"\b(?:is|s|hes|shes) (?:awake|up now|conscious)\b|\b(?:wants?|"
                            r"trying|wanna|tries) (?:to )?(?:leave|go home)\b|\b(?:refus\w*|wont|"
                            r"doesnt want) (?:to )?go\b|\bdesperto\b|\bse desperto\b|\bquiere "
                            r"irse\b|\bno quiere ir\b)"),
)
# Words that hint at a topic without saying which screen: candidates for a clarifying question.
HINTS: tuple[tuple[str, float, str], ...] = (
    ("overdose_signs", 0.4, r"\b(?:worried|scared|pills|preocupad[oa]|pastillas)\b"),
    ("treatment", 0.35, r"\b(?:worried|scared|using|addicted|adict\w*|pills|pastillas)\b"),
    ("safer", 0.3, r"\b(?:using|pills|pastillas|drugs|drogas)\b"),
    ("talk", 0.3, r"\b(?:worried|scared|preocupad[oa]|sad|triste)\b"),
)
# The menu's topic words (keywords.yaml) still count, as the intent of the node they open.
NODE_INTENT = {"overdose": "overdose_signs", "naloxone": "naloxone_what", "nearby": "naloxone_where"}
PREPOSITIONS = {"in", "near", "around", "by", "at", "en", "cerca", "de", "from", "to"}


ALIASES = {"saint": "st", "ft": "fort", "mpls": "minneapolis"}


def _key(text: str) -> str:
    return " ".join(ALIASES.get(w, w) for w in fold(text).split())


@dataclass(frozen=True)
class Meaning:
    emergency: bool
    crisis: bool
    intents: tuple[tuple[str, float], ...]
    confident: bool
    place: str | None

    @property
    def top(self) -> str | None:
        return self.intents[0][0] if self.intents else None


class Understanding:
    """Rules and phrases, read once per text."""

    def __init__(self, detector: SignalDetector, lexicons: Lexicons, towns: Iterable[str] = (),
                 common: Iterable[str] = ()):
        self.detector, self.lexicons = detector, lexicons
        self.phrases = [(i, s, re.compile(p)) for i, s, p in PHRASES]
        self.hints = [(i, s, re.compile(p)) for i, s, p in HINTS]
        self.towns = {_key(t): t for t in towns if _key(t)}
        self.common = frozenset(common)
        self.longest = max((len(k.split()) for k in self.towns), default=1)

    @classmethod
    def from_dir(cls, content_dir: Path, towns: Iterable[str] = (),
                 common: Iterable[str] = ()) -> "Understanding":
        return cls(SignalDetector.from_dir(content_dir), Lexicons.from_dir(content_dir), towns,
                   common)

    @functools.lru_cache(maxsize=8192)
    def read(self, text: str, locale: str | None = None) -> Meaning:
        folded = fold(text or "")
        scores: dict[str, float] = {}
        for intent, score, pattern in self.phrases:
            if pattern.search(folded):
                scores[intent] = max(scores.get(intent, 0.0), score)
        phrased = set(scores)
        if not scores:
            for intent, score, pattern in self.hints:
                if pattern.search(folded):
                    scores[intent] = max(scores.get(intent, 0.0), score)
        topic = self.lexicons.topic(folded, locale or self.lexicons.default)
        if topic is not None:
            intent = NODE_INTENT.get(topic[0], topic[0])
            scores[intent] = max(scores.get(intent, 0.0), TOPIC)
        intents = tuple(sorted(scores.items(), key=lambda kv: -kv[1])[:3])
        signal = self.detector.detect(text or "")
        emergency = signal is not None and signal.kind == "emergency"
        asked = [i for i in phrased if i in QUESTIONS]  # a question in words, not a topic word
        if emergency and signal.rule in WEAK_RULES and asked:
            emergency = False
        crisis = signal is not None and signal.kind == "crisis"
        confident = bool(intents) and intents[0][1] >= THRESHOLD
        return Meaning(emergency, crisis, intents, confident, self._place(folded))

    def _place(self, folded: str) -> str | None:
        """A MN ZIP, or a town named anywhere (one after 'in'/'near'/'en' first)."""
        zips = re.findall(r"\b(5[56]\d{3})\b", folded)
        if zips:
            return zips[-1]
        words = _key(folded).split()
        found = []
        for size in range(min(self.longest, 4), 0, -1):
            for i in range(len(words) - size + 1):
                key = " ".join(words[i:i + size])
                after = i > 0 and words[i - 1] in PREPOSITIONS  # "in hope" yes, "i hope" no
                if key in self.towns and (after or key not in self.common):
                    found.append((after, size, self.towns[key]))
        if not found:
            return None
        return max(found, key=lambda f: (f[0], f[1]))[2]
