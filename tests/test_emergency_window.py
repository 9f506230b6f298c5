"""The emergency window (bot/conversation/intents.py): updates are understood for 30 minutes after
the emergency steps, measured from the session's start time with the `now` the engine is given."""
from datetime import datetime, timedelta, timezone

import pytest

from bot.conversation.engine import Context, State

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)


@pytest.fixture()
def engine(helpline):
    return helpline.engine


def keys(outcome):
    return [r.key for r in outcome.replies]


def test_an_update_within_30_minutes_gets_its_screen_and_after_that_its_plain_meaning(engine):
    steps = engine.step(None, "he is not breathing", NOW, Context())
    assert keys(steps)[0] == "emergency.steps"
    within = engine.step(steps.state, "i dont have narcan", NOW + timedelta(minutes=29), Context())
    assert keys(within)[0] == "update.no_naloxone"
    later = engine.step(steps.state, "i dont have narcan", NOW + timedelta(minutes=31), Context())
    assert later.state.node == "naloxone_where"


def test_the_window_survives_other_screens_and_restarts_with_the_steps(engine):
    steps = engine.step(None, "she wont wake up", NOW, Context())
    menu = engine.step(steps.state, "0", NOW + timedelta(minutes=5), Context())
    update = engine.step(menu.state, "she is breathing again", NOW + timedelta(minutes=10), Context())
    assert keys(update)[0] == "update.breathing"
    again = engine.step(update.state, "she stopped breathing", NOW + timedelta(minutes=25), Context())
    assert keys(again)[0] in ("emergency.steps", "update.not_breathing")  # both restart it
    late = engine.step(again.state, "i dont have narcan", NOW + timedelta(minutes=50), Context())
    assert keys(late)[0] == "update.no_naloxone"  # 25 minutes after the second steps


def test_a_state_from_before_the_window_existed_reads_updates_plainly(engine):
    outcome = engine.step(State(node="emergency"), "i dont have narcan", NOW, Context())
    assert outcome.state.node == "naloxone_where"
