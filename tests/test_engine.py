"""The pure engine, without Redis or HTTP: state in, state and replies out."""
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.places import nearby
from bot.conversation.engine import Context, Engine, State
from bot.conversation.flows import load_flow
from bot.understanding.signals import SignalDetector
from bot.understanding.keywords import Lexicons
from bot.places.locator import Locator

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def engine():
    content = ROOT / "content"
    locator = Locator.from_file(content / "mn" / "naloxone_sites.yaml")
    return Engine(load_flow(ROOT / "flows"), Lexicons.from_dir(content),
                  detect=SignalDetector.from_dir(content).detect,
                  handlers=nearby.handlers(locator))


def keys(outcome):
    return [r.key for r in outcome.replies]


def test_first_message_opens_the_menu(engine):
    outcome = engine.step(None, "hello", NOW)
    assert keys(outcome) == ["menu.main"] and outcome.state.node == "main"


def test_emergency_wins_on_every_screen(engine):
    for node in engine.flow.nodes:
        outcome = engine.step(State(node=node), "he is not breathing", NOW)
        assert keys(outcome)[0] == "emergency.steps", node
        assert outcome.signal == "emergency"


def test_crisis_gets_988_screen(engine):
    outcome = engine.step(State(node="treatment"), "i want to kill myself", NOW)
    assert keys(outcome) == ["crisis.now"] and outcome.signal == "crisis"


def test_digit_follows_the_screen_options(engine):
    state = engine.step(None, "hi", NOW).state
    state = engine.step(state, "4", NOW).state
    assert state.node == "treatment"
    assert engine.step(state, "1", NOW).state.node == "tx_meds"


def test_bad_digit_keeps_the_place_and_hints(engine):
    outcome = engine.step(State(node="legal"), "7", NOW)
    assert keys(outcome) == ["hint.bad_number"] and outcome.state.node == "legal"


def test_back_returns_along_the_path_and_stops_at_main(engine):
    state = None
    for text in ("hi", "2", "2", "1"):
        state = engine.step(state, text, NOW).state
    assert state.node == "sites_twin_cities"
    for expected in ("naloxone_where", "naloxone", "main", "main"):
        state = engine.step(state, "back", NOW).state
        assert state.node == expected


def test_history_is_bounded(engine):
    state = State(node="main")
    for _ in range(30):
        state = engine.step(state, "2", NOW).state  # main -> naloxone -> where -> central ...
        state = engine.step(state, "back", NOW).state
        state = engine.step(state, "1", NOW).state
    assert len(state.history) <= 8


def test_stop_emits_opt_out_and_confirms_only_once(engine):
    first = engine.step(State(node="treatment"), "STOP", NOW)
    assert keys(first) == ["optout.confirm"] and [e.name for e in first.events] == ["opt_out"]
    again = engine.step(first.state, "stop", NOW, Context(opted_out=True))
    assert keys(again) == [] and [e.name for e in again.events] == ["opt_out"]


def test_start_after_stop_opts_back_in(engine):
    outcome = engine.step(State(), "START", NOW, Context(opted_out=True))
    assert keys(outcome) == ["optout.resumed", "menu.main"]
    assert [e.name for e in outcome.events] == ["opt_in"]


def test_unknown_text_gets_hint_and_menu(engine):
    outcome = engine.step(State(node="legal"), "zzzz qqq", NOW)
    assert keys(outcome) == ["hint.unknown", "menu.main"]


def test_zip_anywhere_gives_nearest_sites_and_more_pages_on(engine):
    outcome = engine.step(State(node="treatment"), "55811", NOW)
    assert keys(outcome) == ["naloxone.nearby"]
    params = outcome.replies[0].params
    assert len(params["results"]) == 3 and params["more"]
    assert params["results"][0]["town"] == "Duluth"
    miles = [r["miles"] for r in params["results"]]
    assert miles == sorted(miles)
    page2 = engine.step(outcome.state, "more", NOW).replies[0].params["results"]
    assert {r["phone"] for r in page2}.isdisjoint({r["phone"] for r in params["results"]})


def test_out_of_state_zip_is_not_given_a_minnesota_site(engine):
    outcome = engine.step(State(node="naloxone_where"), "90210", NOW)
    assert keys(outcome) == ["naloxone.out_of_region"]


def test_impossible_zip_at_the_prompt_asks_again(engine):
    outcome = engine.step(State(node="naloxone_where"), "00000", NOW)
    assert keys(outcome) == ["naloxone.bad_zip"]
    retry = engine.step(outcome.state, "duluth", NOW)
    assert keys(retry) == ["naloxone.nearby"]


def test_first_message_in_spanish_switches_language(engine):
    assert engine.step(None, "hola", NOW).state.locale == "es"
    assert engine.step(None, "no respira", NOW).state.locale == "es"
    assert engine.step(None, "hi", NOW).state.locale == "en"


def test_state_round_trips_through_json(engine):
    outcome = engine.step(None, "55811", NOW)
    assert State.from_dict(outcome.state.to_dict()) == outcome.state


def test_back_onto_any_screen_shows_something_that_renders(helpline):
    """BACK redraws the screen before; one a hook drew (the nearest places, "how often?") is
    drawn again by its hook, or passed over when it cannot be (a plan being confirmed), on
    every channel, whatever vars the person carries."""
    engine, content = helpline.engine, helpline.content
    kept = {"keep_place": {"label": "55811 (Duluth)", "lat": 46.8, "lon": -92.1, "offset": 3}}
    redrawn = {"nearby", "checkin_often", "inbox_ask"}
    assert redrawn < engine.drawn_by_hooks and "legal" not in engine.drawn_by_hooks
    for node in engine.flow.nodes:
        for vars_ in ({}, kept):
            state = State(node="naloxone_where", history=("main", node), vars=vars_)
            outcome = engine.step(state, "back", NOW, Context(reminders={"list": []}))
            passed_over = node in engine.drawn_by_hooks and node not in redrawn
            assert outcome.state.node == ("main" if passed_over else node), node
            assert outcome.state.history == (() if outcome.state.node == "main" else ("main",))
            for channel in ("sms", "voice"):
                texts = [content.render(r.key, "en", channel, r.params) for r in outcome.replies]
                assert texts and all(t.strip() for t in texts), (node, channel)


def test_back_to_the_places_redraws_the_same_page(engine):
    state = None
    for text in ("hi", "55811", "more", "1"):
        state = engine.step(state, text, NOW).state
    outcome = engine.step(state, "back", NOW)
    assert outcome.state.node == "nearby" and keys(outcome) == ["naloxone.nearby"]
    assert [r["rank"] for r in outcome.replies[0].params["results"]] == [4, 5, 6]
    wrong = engine.step(engine.step(engine.step(None, "hi", NOW).state, "90210", NOW).state, "1", NOW)
    assert keys(engine.step(wrong.state, "back", NOW)) == ["naloxone.ask_place"]
    # A place outside the state after a good one: BACK and MORE no longer show the old places.
    state = engine.step(engine.step(None, "55811", NOW).state, "90210", NOW).state
    assert keys(engine.step(state, "more", NOW)) == ["naloxone.ask_place"]
    state = engine.step(state, "1", NOW).state
    assert keys(engine.step(state, "back", NOW)) == ["naloxone.ask_place"]


def test_every_option_of_every_screen_renders(helpline):
    """A digit on any screen leads somewhere that renders on both channels, for someone with or
    without check-ins: a flow edit cannot send a person to a screen missing its values."""
    engine, content = helpline.engine, helpline.content
    plan = {"status": "active", "freq": "daily", "window": "morning", "locale": "en", "next": 0.0,
            "paused_until": 0.0, "reason": ""}
    contexts = (Context(reminders={"list": []}),
                Context(subscribed=True, subscription=plan, reminders={"list": []}))
    for node in engine.flow.nodes.values():
        for option in node.options:
            for ctx in contexts:
                outcome = engine.step(State(node=node.id, history=("main",)), option.key, NOW, ctx)
                for channel in ("sms", "voice"):
                    texts = [content.render(r.key, "en", channel, r.params) for r in outcome.replies]
                    assert texts and all(t.strip() for t in texts), (node.id, option.key, channel)


def test_more_on_a_screen_that_offers_1_more_picks_it(engine):
    """The emergency screen says "Reply 1 more steps": a person in a hurry types MORE."""
    for text in ("more", "MORE", "next", "mas"):
        outcome = engine.step(State(node="emergency"), text, NOW)
        assert outcome.state.node == "overdose_steps", text
    assert engine.step(State(node="legal"), "more", NOW).state.node == "legal_more"
    # A screen without a "more" option: MORE is not a command there, the person gets a hint.
    assert keys(engine.step(State(node="treatment"), "more", NOW))[0] == "hint.unknown"
