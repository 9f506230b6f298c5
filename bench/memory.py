"""Redis bytes per active conversation (and per subscriber, when check-ins exist), projected."""
from __future__ import annotations

from datetime import datetime, timezone


def run(helpline, people: int = 2000) -> dict:
    r = helpline.redis
    r.flushdb()
    now = datetime(2026, 11, 25, 15, tzinfo=timezone.utc)
    for i in range(people):
        number = f"+1612{i:07d}"
        for j, body in enumerate(("hi", "2", "2", "55811")):
            helpline.conversations.handle(number, body, now, token=f"SM{i:010d}{j:022d}")
    sessions = list(r.scan_iter("hl:s:*", count=1000))[:200]
    dedupe = list(r.scan_iter("hl:m:*", count=1000))[:200]
    per_session = sum(r.memory_usage(k) for k in sessions) / len(sessions)
    per_dedupe = sum(r.memory_usage(k) for k in dedupe) / len(dedupe)
    result = {
        "bytes_per_session": round(per_session),
        "bytes_per_dedupe_record": round(per_dedupe),
        "bytes_per_active_conversation": round(per_session + 4 * per_dedupe),
        "used_memory_after_bytes": r.info("memory")["used_memory"],
        "people": people,
    }
    subscriber = subscriber_bytes(helpline, now)
    if subscriber:
        result["bytes_per_subscriber"] = subscriber
        result["projected_bytes_1m_subscribers"] = subscriber * 1_000_000
    r.flushdb()
    return result


def subscriber_bytes(helpline, now) -> int | None:
    """Measured from the keys a real opt-in writes: MEMORY USAGE of every key that mentions them."""
    before = set(helpline.redis.scan_iter("*", count=1000))
    number = "+16129990000"
    for body in ("checkin", "1", "1", "yes"):
        helpline.conversations.handle(number, body, now)
    subject = helpline.vault.subject(number)
    added = [k for k in helpline.redis.scan_iter("*", count=1000)
             if k not in before and subject.encode() in k and not k.startswith(b"hl:s:")]
    if not added:
        return None
    total = sum(helpline.redis.memory_usage(k) for k in added)
    for key in helpline.redis.scan_iter("hl:*due*", count=1000):  # sorted-set entry share
        total += helpline.redis.memory_usage(key) // max(helpline.redis.zcard(key), 1)
    return int(total)
