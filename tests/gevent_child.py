"""Run by tests/test_lane_gevent.py in its own process: the helpline as a gevent worker runs it
(sockets patched, so Store talks to Redis through bot.storage.lane.SharedLane), with many texts at once.

Usage: python -m tests.gevent_child SCENARIO REDIS_URL; prints one JSON object.
"""
from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402

from bot import create_app  # noqa: E402
from bot.storage.lane import SharedLane  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.signing import new_sid  # noqa: E402


def helpline_at(url: str, **overrides):
    return create_app(make_settings(url, **overrides)).config["HELPLINE"]


def text_all(helpline, texts: list[tuple[str, str, str]]) -> list:
    """Every (number, body, MessageSid) at once, each in its own greenlet."""
    now = datetime.now(timezone.utc)
    jobs = [gevent.spawn(helpline.conversations.handle, n, b, now, sid) for n, b, sid in texts]
    gevent.joinall(jobs, raise_error=True)
    return [job.value for job in jobs]


def summary(answer) -> dict:
    return {"degraded": answer.degraded, "duplicate": answer.duplicate,
            "text": "\n".join(answer.messages),
            "node": answer.outcome.node if answer.outcome else None}


def stored_nodes(helpline, people: list[str]) -> list[str]:
    """The screen each person's stored conversation is on."""
    return [helpline.store.load_session(helpline.vault.subject(p))["node"] for p in people]


def crowd(url: str) -> dict:
    """Sixty people text "hi" then "2" at the same moment; one message is delivered ten times at
    once; one person sends twelve texts at once."""
    helpline = helpline_at(url, RATE_LIMIT_PER_MINUTE="0")
    people = [f"+1612555{n:04d}" for n in range(60)]
    first = text_all(helpline, [(p, "hi", new_sid()) for p in people])
    second = text_all(helpline, [(p, "2", new_sid()) for p in people])
    retried_sid = new_sid()
    retried = text_all(helpline, [("+16125559001", "naloxone", retried_sid)] * 10)
    burst = text_all(helpline, [("+16125559002", "hi", new_sid()) for _ in range(12)])
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    nodes = stored_nodes(helpline, people)
    return {"lane": type(helpline.store._lane).__name__,
            "first": [summary(a) for a in first], "second": [summary(a) for a in second],
            "retried": [summary(a) for a in retried], "burst": [summary(a) for a in burst],
            "stored_nodes": nodes, "visits": sum(helpline.store.visits(day).values()),
            "expected_node": helpline.flow.node("main").target("2")}


def server_closed(url: str) -> dict:
    """The server closes the shared connection (restart, failover, idle timeout) between texts,
    then forgets its scripts (a new master): the next texts still read their conversations."""
    helpline = helpline_at(url, RATE_LIMIT_PER_MINUTE="0")
    people = [f"+1612556{n:04d}" for n in range(20)]
    text_all(helpline, [(p, "hi", new_sid()) for p in people])
    admin = redis.Redis.from_url(url)
    killed = admin.client_kill_filter(_type="normal", skipme=True)
    after_kill = text_all(helpline, [(p, "2", new_sid()) for p in people])
    admin.script_flush()
    after_flush = text_all(helpline, [(p, "1", new_sid()) for p in people])
    return {"killed": killed, "after_kill": [summary(a) for a in after_kill],
            "after_flush": [summary(a) for a in after_flush],
            "expected_after_kill": helpline.flow.node("main").target("2"),
            "stored_nodes": stored_nodes(helpline, people)}


def through(url: str) -> dict:
    """Twenty people text "hi" then "2" at once through any REDIS_URL (a Sentinel's, say)."""
    helpline = helpline_at(url, RATE_LIMIT_PER_MINUTE="0")
    people = [f"+1612558{n:04d}" for n in range(20)]
    answers = text_all(helpline, [(p, "hi", new_sid()) for p in people])
    answers += text_all(helpline, [(p, "2", new_sid()) for p in people])
    return {"lane": type(helpline.store._lane).__name__, "answers": [summary(a) for a in answers],
            "expected_node": helpline.flow.node("main").target("2"),
            "stored_nodes": stored_nodes(helpline, people)}


def hung(url: str) -> dict:
    """Redis accepts the connection and never answers: every text waiting on it gets the reply
    that needs no state when REDIS_TIMEOUT_SECONDS runs out, none is left hanging."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held = []
    gevent.spawn(lambda: held.extend(iter(lambda: listener.accept()[0], None)))
    helpline = helpline_at(f"redis://127.0.0.1:{listener.getsockname()[1]}/0",
                           REDIS_TIMEOUT_SECONDS="0.3")
    bodies = ["he is not breathing", "hi", "naloxone", "2"] * 5
    answers = text_all(helpline, [(f"+1612557{i:04d}", b, new_sid()) for i, b in enumerate(bodies)])
    return {"lane": type(helpline.store._lane).__name__, "bodies": bodies,
            "answers": [summary(a) for a in answers]}


if __name__ == "__main__":
    scenario, url = sys.argv[1], sys.argv[2]
    assert SharedLane  # the lane under test
    print(json.dumps({"crowd": crowd, "server_closed": server_closed, "through": through,
                       "hung": hung}[scenario](url)))
