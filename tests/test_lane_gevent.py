"""The webhook's Redis lane as gevent workers run it: one connection per process, shared by every
text in flight, their calls sent together (bot/storage/lane.py SharedLane). Each scenario runs in a
gevent-patched child process (tests/gevent_child.py) against the real Redis of the suite."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_child(scenario: str, redis_url: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.gevent_child", scenario, redis_url],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture()
def crowd(redis_url, redis_client):
    return run_child("crowd", redis_url)


def test_many_people_texting_at_once_each_get_their_own_conversation(crowd):
    assert crowd["lane"] == "SharedLane"
    assert not any(a["degraded"] for a in crowd["first"] + crowd["second"])
    # Everyone got the main menu, then the screen they picked, kept in their own state.
    assert all(a["node"] == "main" for a in crowd["first"])
    assert all(a["node"] == crowd["expected_node"] for a in crowd["second"])
    assert crowd["stored_nodes"] == [crowd["expected_node"]] * 60
    assert len({a["text"] for a in crowd["second"]}) == 1


def test_a_message_delivered_ten_times_at_once_advances_once(crowd):
    replies = crowd["retried"]
    assert not any(a["degraded"] for a in replies)
    assert sum(not a["duplicate"] for a in replies) == 1
    assert len({a["text"] for a in replies}) == 1 and "aloxone" in replies[0]["text"]


def test_twelve_texts_from_one_person_at_once_are_all_committed_once(crowd):
    burst = crowd["burst"]
    assert not any(a["degraded"] or a["duplicate"] for a in burst)
    # Screen visits count committed steps: 60 + 60 + the retried message once + 12.
    assert crowd["visits"] == 60 + 60 + 1 + 12


def test_a_closed_connection_and_forgotten_scripts_cost_no_state(redis_url, redis_client):
    result = run_child("server_closed", redis_url)
    assert result["killed"] >= 1
    assert not any(a["degraded"] for a in result["after_kill"] + result["after_flush"])
    assert all(a["node"] == result["expected_after_kill"] for a in result["after_kill"])
    # "1" on that screen went on from it: the conversation survived both.
    assert len(set(result["stored_nodes"])) == 1
    assert result["stored_nodes"][0] not in ("main", result["expected_after_kill"])


def test_with_redis_hung_every_waiting_text_gets_the_stateless_reply(redis_url):
    result = run_child("hung", redis_url)
    assert result["lane"] == "SharedLane"
    answers = result["answers"]
    assert all(a["degraded"] for a in answers)
    for body, answer in zip(result["bodies"], answers):
        if body == "he is not breathing":
            assert answer["text"].startswith("CALL 911")
        else:
            assert answer["text"]
