"""Issue 19, item 7: callers without a number never share a conversation or a rate limit.
Issue 25, item 2: nor do callers whose number Twilio replaced with a placeholder.

A `From` with no digits ("anonymous", "Restricted", "client:alice") once mapped to one empty
number: one caller's screen appeared in another's conversation and they shared one bucket. Such
sessions are now keyed by their MessageSid or CallSid; a number without "+" is read as a North
American number, never as a foreign one. Twilio's withheld-caller placeholders (+266696687
ANONYMOUS, +7378742833 RESTRICTED...: bot/channels/callers.py cites the list) were read as
numbers: a call from one pressed 8 and a text went to it, and all such callers shared one
keyed hash. They are now no number at all. Through the real signed webhooks.
"""
from __future__ import annotations

import pytest
from rq import Queue

from bot.channels.callers import WITHHELD, caller_number, textable
from tests.conftest import Texter
from tests.test_privacy import snapshot, ties
from tests.test_voice import Caller
from tests.test_voice_text import PATHS

# Twilio's placeholders as they arrive: with "+", with a leading 1, and without "+".
PLACEHOLDERS = sorted(f"+{d}" for d in WITHHELD) + ["+17378742833", "266696687"]


@pytest.mark.parametrize("hidden", ["anonymous", "Restricted", "client:alice", "+7378742833",
                                    "+266696687"])
def test_two_people_without_a_number_do_not_see_each_others_screens(client, hidden):
    fresh = Texter(client, "+16125550190").send("1")  # what "1" at the start answers
    first, second = Texter(client, hidden), Texter(client, hidden)
    assert first.send("4") != fresh  # the first one went somewhere else

    assert second.send("1") == fresh


def test_a_flood_without_a_number_does_not_silence_other_people_without_one(app, client):
    limit = app.config["HELPLINE"].settings.rate_limit_per_minute
    flooder = Texter(client, "anonymous")
    for _ in range(limit + 3):
        flooder.send("hi")

    assert "1" in Texter(client, "anonymous").send("hi")  # a menu, not silence


def test_a_caller_id_without_plus_is_a_north_american_number_not_a_foreign_one(
        client, helpline, redis_client):
    caller = Caller(client, "6125550191")
    caller.start()
    for key in PATHS["overdose"]:
        caller.press(key)
    caller.press("8")

    [job] = Queue("outbound", connection=redis_client).jobs
    assert helpline.vault.decrypt(job.args[0]) == "+16125550191"  # not +61 (Australia)



@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_a_call_from_a_withheld_caller_id_is_never_texted_and_shares_no_state(
        client, helpline, redis_client, placeholder):
    callers = [Caller(client, placeholder), Caller(client, placeholder)]
    for caller in callers:
        caller.start()
        for key in PATHS["overdose"]:
            caller.press(key)
        said = caller.press("8")
        assert "we cannot send a text message to this phone" in said
        assert "press 8" not in said

    assert Queue("outbound", connection=redis_client).jobs == []  # no text queued, to anyone
    assert ties(snapshot(redis_client), helpline.vault, placeholder) == []  # no shared hash


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_a_placeholder_is_no_number_wherever_a_number_is_read(placeholder):
    assert caller_number(placeholder) == ""
    assert not textable(placeholder)
    assert caller_number("+16125550192") == "+16125550192" and textable("+16125550192")
