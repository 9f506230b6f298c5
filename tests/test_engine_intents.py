"""The engine's routing of a Meaning (bot/conversation/intents.py), with meanings written out by
hand so each rule is tested whatever the trained model says today; the model itself is tested
end to end by the transcripts."""
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.conversation.engine import Context, Engine, State
from bot.conversation.flows import load_flow
from bot.understanding.keywords import Lexicons
from bot.understanding.signals import Signal, SignalDetector
from tests.meanings import Meaning

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def make():
    content = ROOT / "content"
    flow, lexicons = load_flow(ROOT / "flows"), Lexicons.from_dir(content)
    detect = SignalDetector.from_dir(content).detect

    def build(table, rules=None):
        return Engine(flow, lexicons, detect=rules or detect,
                      understand=lambda text, locale: table.get(text, Meaning()))
    return build


def keys(outcome):
    return [r.key for r in outcome.replies]


def test_unsure_asks_with_numbered_choices_and_the_digit_opens_that_screen(make):
    engine = make({"my cousin": Meaning(intents=(("treatment", 0.4), ("legal", 0.3),
                                                 ("other", 0.2)))})
    asked = engine.step(State(), "my cousin", NOW)
    assert keys(asked) == ["clarify.ask"]
    assert asked.replies[0].params["choices"] == ["treatment", "legal"]
    assert engine.step(asked.state, "2", NOW).state.node == "legal"
    assert engine.step(asked.state, "0", NOW).state.node == "main"


def test_the_choices_hold_for_the_next_message_only(make):
    engine = make({"my cousin": Meaning(intents=(("treatment", 0.4), ("legal", 0.3)))})
    asked = engine.step(State(node="overdose"), "my cousin", NOW)
    other = engine.step(asked.state, "thanks", NOW)
    later = engine.step(other.state, "2", NOW)
    assert later.state.node == "naloxone_use"  # the overdose screen's own option 2


def test_an_emergency_intent_below_its_threshold_is_offered_never_assumed(make):
    engine = make({"my brother uses": Meaning(intents=(("emergency", 0.49), ("safer", 0.36)),
                                              confident=True),
                   "purple": Meaning(intents=(("emergency", 0.35), ("crisis", 0.17)))})
    asked = engine.step(State(), "my brother uses", NOW)
    assert asked.replies[0].params["choices"] == ["emergency", "safer"]
    noise = engine.step(State(turns=3), "purple", NOW)
    assert keys(noise) == ["menu.main"] or "hint.unknown" in keys(noise)


def test_stop_in_words_never_opts_out(make):
    engine = make({"i dont want these anymore": Meaning(intents=(("stop", 0.96),), confident=True)})
    outcome = engine.step(State(), "i dont want these anymore", NOW)
    assert keys(outcome) == ["optout.ask"] and not outcome.events
    exact = engine.step(State(), "STOP", NOW)
    assert any(e.name == "opt_out" for e in exact.events)


def test_a_law_question_naming_911_is_the_law_but_a_person_in_danger_is_the_emergency(make):
    """The guard for rules that fire on a word: a rule like the old `call_911` (the rules now
    leave law questions alone themselves) does not turn a confident law question into the steps."""
    law = Meaning(emergency=True, intents=(("legal", 0.99), ("emergency", 0.001)), confident=True)
    word = Signal("emergency", "en", "call_911")
    engine = make({"will i get arrested if i call 911": law,
                   "hes overdosing will i get arrested if i call 911": law,
                   "911": law}, rules=lambda text: word)
    assert engine.step(State(), "will i get arrested if i call 911", NOW).state.node == "legal"
    danger = engine.step(State(), "hes overdosing will i get arrested if i call 911", NOW)
    assert danger.state.node == "emergency"  # a person named: the steps
    assert engine.step(State(), "911", NOW).state.node == "emergency"


def test_in_danger_an_update_that_says_all_is_well_never_replaces_the_steps(make):
    woke = Meaning(emergency=True, intents=(("update_woke_up", 0.9),), confident=True)
    out = Meaning(emergency=True, intents=(("update_no_naloxone", 0.9),), confident=True)
    engine = make({"hes not waking up": woke, "no narcan and hes not breathing": out})
    steps = engine.step(State(), "hes not waking up", NOW)
    again = engine.step(steps.state, "hes not waking up", NOW + timedelta(minutes=2))
    assert keys(again)[0] == "emergency.steps"
    update = engine.step(steps.state, "no narcan and hes not breathing", NOW + timedelta(minutes=3))
    assert keys(update)[0] == "update.no_naloxone"


def test_a_town_inside_a_sentence_is_a_place_only_when_the_message_is_about_places(make):
    from bot.places import nearby
    from bot.places.locator import Locator
    locator = Locator.from_file(ROOT / "content" / "mn" / "naloxone_sites.yaml")
    table = {"narcan near duluth": Meaning(intents=(("naloxone_where", 0.99),), confident=True,
                                           place="Duluth"),
             "rehab in duluth": Meaning(intents=(("tx_find", 0.99),), confident=True,
                                        place="Duluth")}
    engine = make(table)
    engine = Engine(engine.flow, engine.lexicons, detect=engine.detect,
                    understand=engine.understand, handlers=nearby.handlers(locator))
    near = engine.step(State(), "narcan near duluth", NOW)
    assert near.state.node == "nearby" and near.replies[0].params["place"] == "Duluth"
    assert engine.step(State(), "rehab in duluth", NOW).state.node == "tx_find"


def test_updates_outside_the_window_mean_what_they_say(make):
    engine = make({"i dont have narcan": Meaning(intents=(("update_no_naloxone", 0.99),),
                                                 confident=True)})
    assert engine.step(State(), "i dont have narcan", NOW).state.node == "naloxone_where"


def test_a_possible_emergency_gets_one_911_line_then_the_answer_and_yes_gets_the_steps(helpline):
    from dataclasses import replace

    unsure = Meaning(intents=(("talk", 0.9), ("emergency", 0.4)), confident=True)
    unsure = replace(unsure, unsure=True, read_rules=True)
    engine = replace(helpline.engine, understand=lambda text, locale: {"x y z": unsure}.get(
        text, Meaning()))
    asked = engine.step(State(), "x y z", NOW)
    assert keys(asked)[0] == "emergency.unsure" and asked.state.node == "talk"
    assert "reminders.offer" not in keys(asked)  # one YES per message: the line's
    steps = engine.step(asked.state, "yes", NOW + timedelta(seconds=30))
    assert keys(steps)[0] == "emergency.steps"
    later = engine.step(steps.state, "yes", NOW + timedelta(minutes=1))
    assert "emergency.steps" not in keys(later)  # only right after the line


def test_in_the_window_doubt_turns_good_news_into_the_safer_update(make):
    from dataclasses import replace

    hopeful = replace(Meaning(intents=(("update_breathing", 0.9),), confident=True), doubt=True)
    clear = Meaning(intents=(("update_breathing", 0.9),), confident=True)
    engine = make({"maybe": hopeful, "breathing fine": clear})
    opened = engine.step(State(), "he is not breathing", NOW)
    assert keys(opened)[0] == "emergency.steps"
    assert engine.step(opened.state, "maybe", NOW + timedelta(minutes=1)).state.node == \
        "update_not_breathing"
    assert engine.step(opened.state, "breathing fine", NOW + timedelta(minutes=1)).state.node == \
        "update_breathing"
