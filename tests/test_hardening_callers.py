"""Issue 19, item 7: callers without a number never share a conversation or a rate limit.

A `From` with no digits ("anonymous", "Restricted", "client:alice") once mapped to one empty
number: one caller's screen appeared in another's conversation and they shared one bucket. Such
sessions are now keyed by their MessageSid or CallSid; a number without "+" is read as a North
American number, never as a foreign one. Through the real signed webhooks.
"""
from __future__ import annotations

import pytest
from rq import Queue

from tests.conftest import Texter
from tests.test_voice import Caller
from tests.test_voice_text import PATHS


@pytest.mark.parametrize("hidden", ["anonymous", "Restricted", "client:alice"])
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

