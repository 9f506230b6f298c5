"""The dashboard's figures: anonymous counts for today and the last 30 days, and health.

Everything comes from counters that hold no person: screen visits (store.py), the console's
usage counters (usage.py), check-in counts (bot/checkins), outbound results, RQ's queues.
Counts from 1 to 4 are shown as "<5" (suppress) so a small town's one lookup identifies no one.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from bot.console import usage
from bot.inbox.figures import minutes
from bot.ops import health

DAYS = 30
SMALL = 5


def suppress(n: int) -> str:
    return f"<{SMALL}" if 0 < n < SMALL else f"{n:,}"


def _days(now: datetime) -> list[str]:
    return [(now - timedelta(days=back)).strftime("%Y-%m-%d") for back in range(DAYS - 1, -1, -1)]


def figures(helpline, now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    days = _days(now)
    client = helpline.redis
    visits = [helpline.store.visits(day) for day in days]
    counts = [usage.read(client, day) for day in days]
    checkin_stats = _checkin_stats(helpline, days)

    def total(rows, name):
        return sum(r.get(name, 0) for r in rows)

    def pair(rows, name):
        return {"today": rows[-1].get(name, 0), "month": total(rows, name)}

    texts_in = [r.get("in:sms", 0) for r in counts]
    screens = Counter()
    for row in visits:
        screens.update(row)
    places, failures = Counter(), Counter()
    for row in counts:
        for name, n in row.items():
            if name.startswith("place:"):
                places[name[6:]] += n
            elif name.startswith("failed:"):
                failures[name[7:]] += n
    replies = {name: pair(visits, node) for name, node in
               (("OK", "checkin_ok"), ("hard time", "checkin_hard"), ("need help", "checkin_help"))}
    return {
        "days": days,
        "rows": {
            "conversations": pair(counts, "conversations"),
            "texts in": pair(counts, "in:sms"),
            "texts out (replies)": pair(counts, "out:sms"),
            "calls": pair(counts, "calls"),
            "emergencies (overdose steps shown)": pair(visits, "emergency"),
            "crises (crisis steps shown)": pair(visits, "crisis"),
            "reminders booked": pair(counts, "reminders_booked"),
        },
        "texts_by_day": list(zip(days, texts_in)),
        "screens": screens.most_common(12),
        "places": places.most_common(12),
        "failures": failures.most_common(),
        "checkin_replies": replies,
        "checkin_stats": checkin_stats,
        "subscribers": _subscribers(helpline),
        "sends": helpline.store.sends(),
        "health": _health(helpline, now),
        "inbox": _inbox(helpline, now),
    }


def _inbox(helpline, now: datetime) -> dict | None:
    """The staffed text inbox's figures (bot/inbox/figures.py), when it has staffed hours: the
    times as "median / 90th percentile", "-" where fewer than 5 tickets had one."""
    host = helpline.extras.get("inbox")
    if host is None or not host.hours.on:
        return None
    data = host.summary(now)

    def spread(s: dict) -> str:
        return f"{minutes(s['median'])} / {minutes(s['p90'])}" if s["median"] is not None else "-"

    times = [(label, spread(data["times"][kind]["today"]), spread(data["times"][kind]["month"]))
             for kind, label in (("wait", "waiting time"), ("first", "first reply"))]
    hours = [(f"{h['hour']:02d}:00", h["opened"], h["handled"], h["abandoned"],
              minutes(h["wait"]["median"])) for h in data["hours"] if h["opened"]]
    return {"counts": data["counts"], "times": times, "hours": hours}


def _checkin_stats(helpline, days: list[str]) -> dict[str, dict]:
    host = helpline.extras.get("checkins")
    if host is None:
        return {}
    rows = [host.subs.stats(day) for day in days]
    names = sorted({name for row in rows for name in row})
    return {name: {"today": rows[-1].get(name, 0), "month": sum(r.get(name, 0) for r in rows)}
            for name in names}


def _subscribers(helpline) -> dict[str, int]:
    """Check-in subscriptions by state, counted with SCAN (no names, no numbers read)."""
    from bot.checkins.subscriptions import sub_key

    found: Counter = Counter()
    client = helpline.redis
    keys = []
    for key in client.scan_iter(match=sub_key("*"), count=1000):
        keys.append(key)
        if len(keys) >= 200:
            found.update(_states(client, keys))
            keys = []
        if sum(found.values()) > 200_000:
            break
    found.update(_states(client, keys))
    return {state: found.get(state, 0) for state in ("active", "paused", "held", "stopped")}


def _states(client, keys) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hget(key, "status")
    return [(s or b"?").decode() for s in pipe.execute()]


def _health(helpline, now: datetime) -> dict:
    return health.check_health(helpline, now)
