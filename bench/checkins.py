"""Check-in dispatch and sending: 100,000 subscribers due at once, then one worker's send rate.

The sends go through the real twilio client into the local Twilio-compatible server the tests use
(tests/twilio_server.py), once with the shared rate limit lifted and once with it set. The
forking worker runs as `python worker.py` runs it (rq.Worker, both queues, with the scheduler).
The local server normally runs in this process and so shares its CPU and GIL with the worker;
the "twilio_in_child" figure runs it in a process of its own, as the real Twilio is elsewhere.
"""
from __future__ import annotations

import multiprocessing
import secrets
import time
from datetime import datetime, timedelta, timezone

from rq import SimpleWorker, Worker

from bot.checkins import jobs
from bot.checkins.rules import Plan, Slot
from bot.config import load_settings
from bot.helpline import build
from bot.storage.keys import OUTBOUND_RATE_KEY
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

SUBSCRIBERS = 100_000
SEND_BATCH = 3_000
FORKING_BATCH = 3_000  # a fork per batch job of up to 200 texts, no longer one per text
LIMITED_RATE, LIMITED_BATCH = 25.0, 500


class ChildTwilio:
    """FakeTwilio in a process of its own; what send_rate() needs of it, over a pipe."""

    def __init__(self):
        self._conn, child = multiprocessing.Pipe()
        self._proc = multiprocessing.get_context("fork").Process(
            target=_serve, args=(child,), daemon=True)
        self._proc.start()
        self.base_url = self._conn.recv()

    def _ask(self, command: str):
        self._conn.send(command)
        return self._conn.recv()

    def reset(self) -> None:
        self._ask("reset")

    @property
    def times(self) -> list[float]:
        return self._ask("times")

    def stop(self) -> None:
        self._ask("stop")
        self._proc.join(10)


def _serve(conn) -> None:
    with FakeTwilio() as fake:
        conn.send(fake.base_url)
        while True:
            command = conn.recv()
            answer = {"reset": fake.reset, "times": lambda: [m.time for m in fake.messages],
                      "stop": lambda: None}[command]()
            conn.send(answer)
            if command == "stop":
                return


def runtime(redis_url: str, fake: "FakeTwilio | ChildTwilio", rate: float) -> jobs.Runtime:
    env = {"REDIS_URL": redis_url, "HELPLINE_ENV": "test", "HELPLINE_SECRET": secrets.token_urlsafe(48),
           "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_FROM_NUMBER": "+16125550100", "TWILIO_API_BASE_URL": fake.base_url,
           "SEND_RATE_PER_SECOND": str(rate), "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0",
           "REDIS_TIMEOUT_SECONDS": "30"}
    rt = jobs.Runtime.of(build(load_settings(env))).warm()  # as worker.py does
    jobs.use(rt)
    return rt


def seed(rt: jobs.Runtime, count: int, due: datetime) -> None:
    """Subscribers as a real opt-in writes them (encrypted number, due-time index), in bulk."""
    slot = Slot(due.astimezone(rt.rules.tz).date(), "morning").key
    pipe = rt.redis.pipeline(transaction=False)
    for i in range(count):
        number = f"+1{6120000000 + i}"
        rt.subs.subscribe(pipe, rt.helpline.vault.subject(number), number, Plan("daily", "morning"),
                          "en", slot, due.timestamp())
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def drain(rt: jobs.Runtime, worker_class) -> None:
    if worker_class is Worker:  # as worker.py runs it
        Worker(jobs.QUEUES, connection=rt.redis).work(burst=True, with_scheduler=True,
                                                      logging_level="WARNING")
    else:
        worker_class([jobs.SEND_QUEUE], connection=rt.redis).work(burst=True,
                                                                  logging_level="WARNING")


def send_rate(rt, fake, count: int, worker_class) -> dict:
    rt.redis.flushdb(asynchronous=True)
    fake.reset()
    now = datetime.now(timezone.utc)
    seed(rt, count, now - timedelta(minutes=1))
    jobs.dispatch(rt, now)
    started = time.perf_counter()
    drain(rt, worker_class)
    elapsed = time.perf_counter() - started
    times = sorted(fake.times if isinstance(fake, ChildTwilio) else [r.time for r in fake.messages])
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {"messages": len(times), "seconds": round(elapsed, 2),
            "messages_per_second": round(len(times) / elapsed, 1),
            "steady_rate_per_second": round(steady, 2), "send_threads": rt.threads}


def run(helpline, redis_url: str) -> dict:
    with FakeTwilio() as fake:
        rt = runtime(redis_url, fake, rate=1_000_000)
        rt.redis.flushdb(asynchronous=True)
        now = datetime.now(timezone.utc)
        seed(rt, SUBSCRIBERS, now - timedelta(minutes=1))
        started = time.perf_counter()
        counts = jobs.dispatch(rt, now)
        dispatch_seconds = time.perf_counter() - started
        result = {"subscribers_due": SUBSCRIBERS, "enqueued": counts.get("enqueued", 0),
                  "dispatch_seconds": round(dispatch_seconds, 2),
                  "dispatch_per_second": round(counts.get("enqueued", 0) / dispatch_seconds, 1)}
        result["unlimited_simple_worker"] = send_rate(rt, fake, SEND_BATCH, SimpleWorker)
        result["unlimited_forking_worker"] = send_rate(rt, fake, FORKING_BATCH, Worker)
        child = ChildTwilio()
        try:
            rt = runtime(redis_url, child, rate=1_000_000)
            result["unlimited_forking_worker_twilio_in_child"] = send_rate(
                rt, child, FORKING_BATCH, Worker)
        finally:
            child.stop()
        rt = runtime(redis_url, fake, rate=LIMITED_RATE)
        rt.redis.delete(OUTBOUND_RATE_KEY)
        limited = send_rate(rt, fake, LIMITED_BATCH, SimpleWorker)
        limited["configured_rate_per_second"] = LIMITED_RATE
        limited["error_percent"] = round(
            abs(limited["steady_rate_per_second"] - LIMITED_RATE) / LIMITED_RATE * 100, 2)
        result["limited"] = limited
        rt.redis.flushdb(asynchronous=True)
    jobs.use(None)
    return result
