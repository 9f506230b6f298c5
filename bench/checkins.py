"""Check-in dispatch and sending: 100,000 subscribers due at once, then one worker's send rate.

The sends go through the real twilio client into the local Twilio-compatible server the tests use
(tests/twilio_server.py), once with the shared rate limit lifted and once with it set.
"""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta, timezone

from rq import SimpleWorker, Worker

from bot import jobs
from bot.checkins import Plan, Slot
from bot.config import load_settings
from bot.helpline import build
from bot.store import OUTBOUND_RATE_KEY
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

SUBSCRIBERS = 100_000
SEND_BATCH = 3_000
FORKING_BATCH = 600
LIMITED_RATE, LIMITED_BATCH = 25.0, 500


def runtime(redis_url: str, fake: FakeTwilio, rate: float) -> jobs.Runtime:
    env = {"REDIS_URL": redis_url, "HELPLINE_ENV": "test", "HELPLINE_SECRET": secrets.token_urlsafe(48),
           "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_FROM_NUMBER": "+16125550100", "TWILIO_API_BASE_URL": fake.base_url,
           "SEND_RATE_PER_SECOND": str(rate), "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0"}
    rt = jobs.Runtime.of(build(load_settings(env)))
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
    worker_class([jobs.SEND_QUEUE], connection=rt.redis).work(burst=True, logging_level="WARNING")


def send_rate(rt, fake: FakeTwilio, count: int, worker_class) -> dict:
    rt.redis.flushdb()
    fake.reset()
    now = datetime.now(timezone.utc)
    seed(rt, count, now - timedelta(minutes=1))
    jobs.dispatch(rt, now)
    started = time.perf_counter()
    drain(rt, worker_class)
    elapsed = time.perf_counter() - started
    times = sorted(r.time for r in fake.messages)
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {"messages": len(fake.messages), "seconds": round(elapsed, 2),
            "messages_per_second": round(len(fake.messages) / elapsed, 1),
            "steady_rate_per_second": round(steady, 2)}


def run(helpline, redis_url: str) -> dict:
    with FakeTwilio() as fake:
        rt = runtime(redis_url, fake, rate=1_000_000)
        rt.redis.flushdb()
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
        rt = runtime(redis_url, fake, rate=LIMITED_RATE)
        rt.redis.delete(OUTBOUND_RATE_KEY)
        limited = send_rate(rt, fake, LIMITED_BATCH, SimpleWorker)
        limited["configured_rate_per_second"] = LIMITED_RATE
        limited["error_percent"] = round(
            abs(limited["steady_rate_per_second"] - LIMITED_RATE) / LIMITED_RATE * 100, 2)
        result["limited"] = limited
        rt.redis.flushdb()
    jobs.use(None)
    return result
