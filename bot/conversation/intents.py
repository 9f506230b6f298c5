"""How a Meaning (bot/understanding) becomes a screen: PURE, used by the engine.

Three jobs, one table each:
- SCREENS: the intent of a question -> the node that answers it (the first node that exists in
  the flow, so a screen another branch adds, such as naloxone_otc, is used once it is merged);
- COMMANDS: intents that are commands in plain words -> the command they run ("actually i dont
  want these anymore" -> the check-ins' stop, never the opt-out of all texts);
- UPDATES: what a person texts during an emergency -> a short update screen. The emergency
  window is the 30 minutes after the emergency screen; its start time is in the session vars
  (SINCE) and the engine passes `now`. Outside it, an update means what it says
  (OUTSIDE: "i dont have narcan" -> where to get naloxone).
Below the classifier's threshold the engine asks a clarifying question with numbered choices
(ask / answer below) rather than guessing.
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Mapping

MAIN, EMERGENCY, CRISIS = "main", "emergency", "crisis"  # node ids the engine knows by name
WINDOW = timedelta(minutes=30)
SINCE = "keep_emergency_since"   # unix time of the last emergency screen; kept across screens
CLARIFY = "clarify"              # {"choices": [node ids], "turn": n}: valid for the next message
CLARIFY_MIN = 0.15               # weaker candidates than this are not offered
MAX_CHOICES = 3
UPDATE_MIN = 0.3

SCREENS: Mapping[str, tuple[str, ...]] = {
    "emergency": ("emergency",), "crisis": ("crisis",),
    "overdose_signs": ("overdose",), "overdose_steps": ("overdose_steps",),
    "naloxone_what": ("naloxone",), "naloxone_use": ("naloxone_use",),
    "naloxone_safe": ("naloxone_safe",), "naloxone_where": ("naloxone_where",),
    "naloxone_otc": ("naloxone_otc", "naloxone"), "legal": ("legal",),
    "treatment": ("treatment",), "tx_meds": ("tx_meds",), "tx_find": ("tx_find",),
    "safer": ("safer",), "fentanyl_xylazine": ("fentanyl", "safer"), "talk": ("talk",),
    "grief": ("grief", "talk"), "privacy": ("privacy",),
    "rescue_breathing": ("rescue_breathing", "overdose_steps"),
    "checkin_start": ("checkin",), "checkin_stop": ("checkin",), "checkin_pause": ("checkin",),
    "checkin_status": ("checkin",), "greeting": ("main",), "menu": ("main",),
}
COMMANDS: Mapping[str, str] = {
    "checkin_start": "checkin", "checkin_stop": "checkin_stop", "checkin_pause": "pause",
    "checkin_status": "status", "checkin_resume": "resume", "reminder": "check",
    "forget": "forget", "help": "help",
    "thanks": "thanks", "greeting": "menu", "menu": "menu",
}
# "stop" in plain words is never an opt-out on a guess: the check-ins' hook stops check-ins for a
# subscriber ("i dont want these anymore"), anyone else is told to send STOP (OPT_OUT_ASK).
OPT_OUT_ASK = "optout.ask"
UPDATES: Mapping[str, str] = {
    "update_not_breathing": "update_not_breathing", "update_no_naloxone": "update_no_naloxone",
    "update_breathing": "update_breathing", "update_called_911": "update_called_911",
    "update_help_arrived": "update_help_arrived", "update_woke_up": "update_woke_up",
}
# An update outside the window: still-not-breathing is an emergency; no naloxone is a question
# of where to get it; the others (breathing now, 911 called, help here, woke up) keep their
# screen, whose advice holds whenever it is sent.
OUTSIDE: Mapping[str, str] = {"update_not_breathing": "emergency",
                              "update_no_naloxone": "naloxone_where"}
# Intents whose message is about places: a town or ZIP inside it is a place, not a word.
ABOUT_PLACES = frozenset({"naloxone_where", "update_no_naloxone", "naloxone_otc",
                          "naloxone_what"})
NOT_SCREENS = frozenset({"other"})
# Intents whose own screen answers better than any menu word in the message: a loss mentioned
# with "support group" or "talk" gets the grief screen (which names groups and 988).
OWN_SCREEN = frozenset({"grief", "privacy"})


# Emergency rules that fire on a word ("911", "overdosing") rather than on a person in danger.
# When the only rule that fired is one of these, the words ask a question the understanding is
# confident about, and the classifier puts no emergency among its top intents, the message is that
# question ("will i get in trouble for calling 911" -> the law), not an overdose in progress.
# Such a word counts as a question only about no one in particular ("how do i know if someone
# is overdosing"), never with a person named ("hes overdosing, will i get arrested").
WORD_RULES = frozenset({"call_911", "call_for_help", "llama_911", "ambulancia", "overdosing",
                        "overdose_word", "sobredosificando", "having_overdose"})
_PERSON = re.compile(r"\b(?:he|she|they|hes|shes|theyre|him|her|them|my|mi|el|ella|esta|"
                     r"friend|amigo|amiga|brother|sister|son|daughter|hermano|hermana|hijo|hija)\b")
DANGER_MIN = 0.05
QUESTIONS = frozenset({"legal", "overdose_signs", "naloxone_safe", "naloxone_otc",
                       "naloxone_what", "naloxone_use"})


def only_a_question(meaning, signal, folded: str) -> bool:
    """A question of 4+ words ("sobredosis" or "911" alone stays an emergency)."""
    rule = getattr(signal, "rule", None)
    if len(folded.split()) < 4:
        return False
    if rule not in WORD_RULES or _PERSON.search(folded):
        return False
    return (signal is not None
            and meaning.confident and meaning.top in QUESTIONS
            and all(score < DANGER_MIN for intent, score in meaning.intents
                    if intent in ("emergency", "crisis") or intent.startswith("update_")))


ASKED_SHARE = 0.5   # of what the classifier does not give the emergency: "most likely asked"


def asked_beside(meaning) -> str | None:
    """The intent whose screen answers the message. Normally the top one; when the top is an
    emergency or crisis below its own threshold and the unsure line goes first, the answer is to
    what they most likely asked (issue 23, "three answers"): the best other intent, if it holds at
    least ASKED_SHARE of the rest ("lost another client this week ... just tired" -> grief)."""
    if not meaning.intents:
        return None
    top, score = meaning.intents[0]
    if top not in (EMERGENCY, CRISIS):
        return top
    if not getattr(meaning, "unsure", False) or score >= 1:
        return None
    for intent, other in meaning.intents[1:]:
        if intent in (EMERGENCY, CRISIS) or intent.startswith("update_"):
            continue
        return intent if other / (1 - score) >= ASKED_SHARE else None
    return None


_NAMED = frozenset(n for nodes in SCREENS.values() for n in nodes) | frozenset(UPDATES.values())


def only_by_words(node: str) -> bool:
    """A screen no intent opens (types of programs, harm-reduction services...): its topic words
    in keywords.yaml are the only way to it by words, so they win over the intent."""
    return node not in _NAMED


def topic_wins(topic: str, intent: str, node: str, flow) -> bool:
    """The menu's topic words (keywords.yaml) over a confident intent when they are more exact:
    no intent opens that screen, or it is one of the intent screen's own options (finer), or the
    intent's own screen is missing here and `node` is only its fallback."""
    finer = any(o.goto == topic for o in flow.node(node).options)
    fallback = node != next(iter(SCREENS.get(intent, (node,))))
    return only_by_words(topic) or finer or fallback


def only_a_place(meaning, signal, folded: str) -> bool:
    """A town's name alone ("Le Sueur") that only the classifier took for an emergency or crisis."""
    return signal is None and bool(meaning.place) and len(folded.split()) <= 3


CLASSIFIER_MIN_WORDS = 3


def too_short_to_tell(meaning, signal, folded: str) -> bool:
    """One or two words the rules do not flag ("elefante morado", "my cousin", "tonight") are too
    little for the classifier alone to call an emergency or a crisis; they get their normal answer
    (the not-understood reply starts with "Overdose now? Call 911"). Short real ones are the
    rules' ("no respira", "od", "quiero morir"). Words run together count as the words they
    hold ("hesnotbreathing" is three: Meaning.words)."""
    words = getattr(meaning, "words", 0) or len(folded.split())
    return signal is None and words < CLASSIFIER_MIN_WORDS


def in_emergency(state, now: datetime) -> bool:
    since = state.vars.get(SINCE)
    if not isinstance(since, (int, float)):
        return False
    return 0 <= now.timestamp() - since <= WINDOW.total_seconds()


def mark_emergency(outcome, now: datetime):
    """The emergency screen was shown: the window starts (again) now."""
    vars_ = dict(outcome.state.vars, **{SINCE: now.timestamp()})
    return replace(outcome, state=replace(outcome.state, vars=vars_))


# While the rules or the model say someone is in danger now, only updates whose screen still
# fits that (more naloxone, no naloxone, 911 called, help is here) may answer instead of the
# steps: "he's not waking up" must never get "Good, they woke up".
IN_DANGER = frozenset({"update_not_breathing", "update_no_naloxone", "update_called_911",
                       "update_help_arrived"})


# Good news an update may not claim without clear evidence: in the window, a message whose current
# state has a negation, a "stopped", a doubt (Meaning.doubt: "was breathing but now hes not",
# "breathing? no", "he is nto breathing") gets the safer reply, never "Good.".
SAFER = {"update_breathing": "update_not_breathing", "update_woke_up": "update_not_breathing",
         "update_called_911": "update_not_breathing"}
UNSURE = "keep_unsure_turn"     # the turn the unsure line was sent; a YES on the next one = steps
UNSURE_REPLY = "emergency.unsure"


def safer(node: str, meaning) -> str:
    """The update screen to show: the safer one when the message leaves any doubt."""
    if getattr(meaning, "doubt", False) and node in SAFER:
        return SAFER[node]
    return node


def unsure_line_fits(outcome) -> bool:
    """The unsure line goes before an answer, not before the steps, the crisis screen or an
    update (which say 911 themselves), and only once."""
    node = outcome.state.node
    return (node not in (EMERGENCY, CRISIS) and node not in UPDATES.values()
            and not any(r.key == UNSURE_REPLY for r in outcome.replies))


def answers_unsure(state, command) -> bool:
    """YES (any language) right after the unsure line."""
    return (command is not None and command[0] == "yes"
            and state.vars.get(UNSURE) == state.turns - 1)


def update_in(meaning, flow, danger: bool = False) -> str | None:
    """The update screen a message asks for, if the best non-emergency intent is an update."""
    for intent, score in meaning.intents:
        if intent in ("emergency", "crisis"):
            continue
        if danger and intent not in IN_DANGER:
            return None
        node = UPDATES.get(intent)
        return node if node in flow.nodes and score >= UPDATE_MIN else None
    return None


def screen(intent: str | None, flow, in_window: bool = False) -> str | None:
    """The node for an intent, or None when this flow has no screen for it."""
    if intent in UPDATES:
        target = UPDATES[intent] if in_window else OUTSIDE.get(intent, UPDATES[intent])
        return target if target in flow.nodes else None
    return next((n for n in SCREENS.get(intent or "", ()) if n in flow.nodes), None)


def about_places(meaning, node_expects: str | None) -> bool:
    """A town in this message is a place: the message is about places, or the screen asks for one."""
    return node_expects == "place" or any(i in ABOUT_PLACES for i, _ in meaning.intents[:2])


def choices(meaning, flow, here: str) -> list[str]:
    """Distinct screens for the candidates worth offering, best first (not the one shown now).
    An emergency or crisis candidate is offered only beside a real topic: alone it is the
    classifier's prior for words it does not know ("purple monkey"), not a guess worth asking."""
    if not any(i not in NOT_SCREENS | {"emergency", "crisis"} and s >= CLARIFY_MIN
               for i, s in meaning.intents):
        return []
    found: list[str] = []
    for intent, score in meaning.intents:
        if intent in NOT_SCREENS or score < CLARIFY_MIN:
            continue
        node = screen(intent, flow)
        if node and node not in found and node not in (here, "main"):
            found.append(node)
    return found[:MAX_CHOICES]


def clarify_vars(state, found: list[str]) -> dict[str, Any]:
    return dict(state.vars, **{CLARIFY: {"choices": found, "turn": state.turns}})


def clarified(state, folded: str) -> str | None:
    """The node a digit picks from the clarifying question asked one message ago."""
    asked = state.vars.get(CLARIFY)
    if not isinstance(asked, Mapping) or asked.get("turn") != state.turns - 1:
        return None
    key = folded.replace(" ", "")
    found = list(asked.get("choices") or ())
    if key.isdigit() and 1 <= int(key) <= len(found):
        return str(found[int(key) - 1])
    return None
