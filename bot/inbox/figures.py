"""The inbox's figures: waiting time (opened, or staffed hours began, to the first claim),
first-reply time, tickets handled (a person replied) and abandoned (closed without a reply),
urgent tickets, and tickets opened by hour of day. Anonymous numbers per local day: no ticket
number, no person, no text (keys in bot/storage/keys.py, kept 400 days like the usage counts).

The "<5" rule of the dashboard holds here too: a median or a 90th percentile over fewer than
SMALL tickets is not shown, and counts from 1 to 4 are shown as "<5".
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.storage.keys import INBOX_TYPICAL_KEY, inbox_samples_key, inbox_stats_key
from bot.storage.store import STATS_TTL

SMALL = 5
TYPICAL_DAYS = 7  # "replies usually come within ..." is measured over the last week
KINDS = ("wait", "first")


def local_day(ts: float, tz: ZoneInfo) -> tuple[str, int]:
    """The local day ("2025-03-04") and hour of a moment: figures follow the team's clock."""
    local = datetime.fromtimestamp(ts, tz)
    return local.strftime("%Y-%m-%d"), local.hour


def count(pipe, opened: float, tz: ZoneInfo, name: str, by_hour: bool = False) -> None:
    """One more of `name` on the day the ticket opened (and in its hour's column)."""
    day, hour = local_day(opened, tz)
    key = inbox_stats_key(day)
    pipe.hincrby(key, name, 1)
    if by_hour:
        pipe.hincrby(key, f"{name}_h{hour:02d}", 1)
    pipe.expire(key, STATS_TTL)


def sample(pipe, kind: str, opened: float, seconds: float, tz: ZoneInfo) -> None:
    """One ticket's wait or first-reply time, with the hour it opened in."""
    day, hour = local_day(opened, tz)
    key = inbox_samples_key(kind, day)
    pipe.rpush(key, f"{hour}:{max(0, int(seconds))}")
    pipe.expire(key, STATS_TTL)


def quantile(values: list[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _days(now: datetime, tz: ZoneInfo, n: int) -> list[str]:
    today = now.astimezone(tz).date()
    return [(today - timedelta(days=back)).isoformat() for back in range(n - 1, -1, -1)]


def _samples(client, kind: str, days: list[str]) -> list[tuple[int, int]]:
    pipe = client.pipeline(transaction=False)
    for day in days:
        pipe.lrange(inbox_samples_key(kind, day), 0, -1)
    found = []
    for rows in pipe.execute():
        for raw in rows:
            hour, _, seconds = raw.decode().partition(":")
            found.append((int(hour), int(seconds)))
    return found


def typical(client, now: datetime, tz: ZoneInfo) -> int | None:
    """Median first-reply seconds over the last week, when SMALL or more tickets had one."""
    values = [s for _, s in _samples(client, "first", _days(now, tz, TYPICAL_DAYS))]
    return int(quantile(values, 0.5)) if len(values) >= SMALL else None


def refresh_typical(client, now: datetime, tz: ZoneInfo) -> None:
    """What texters are told ("usually within N minutes"), read with every message they send."""
    value = typical(client, now, tz)
    if value is None:
        client.delete(INBOX_TYPICAL_KEY)
    else:
        client.set(INBOX_TYPICAL_KEY, value, ex=(TYPICAL_DAYS + 1) * 86400)


def _spread(values: list[int]) -> dict:
    shown = len(values) >= SMALL
    return {"n": len(values), "median": quantile(values, 0.5) if shown else None,
            "p90": quantile(values, 0.9) if shown else None}


def summary(client, now: datetime, tz: ZoneInfo, days: int = 30) -> dict:
    """Today and the last `days` days, and by hour of day over those days."""
    names = _days(now, tz, days)
    pipe = client.pipeline(transaction=False)
    for day in names:
        pipe.hgetall(inbox_stats_key(day))
    rows = [{k.decode(): int(v) for k, v in row.items()} for row in pipe.execute()]
    samples = {kind: _samples(client, kind, names) for kind in KINDS}
    today = {kind: _samples(client, kind, names[-1:]) for kind in KINDS}

    def total(name: str, which=rows) -> int:
        return sum(r.get(name, 0) for r in which)

    counts = {name: {"today": total(name, rows[-1:]), "month": total(name)}
              for name in ("opened", "handled", "abandoned", "urgent")}
    times = {kind: {"today": _spread([s for _, s in today[kind]]),
                    "month": _spread([s for _, s in samples[kind]])} for kind in KINDS}
    hours = []
    for hour in range(24):
        waits = [s for h, s in samples["wait"] if h == hour]
        firsts = [s for h, s in samples["first"] if h == hour]
        hours.append({"hour": hour, "opened": total(f"opened_h{hour:02d}"),
                      "handled": total(f"handled_h{hour:02d}"),
                      "abandoned": total(f"abandoned_h{hour:02d}"),
                      "wait": _spread(waits), "first": _spread(firsts)})
    return {"counts": counts, "times": times, "hours": hours, "days": days}


def minutes(seconds: float | None) -> str:
    """For people: "<1 min", "4 min", "1 h 20 min"; "-" when not shown (fewer than SMALL)."""
    if seconds is None:
        return "-"
    mins = int(round(seconds / 60))
    if mins < 1:
        return "<1 min"
    return f"{mins} min" if mins < 60 else f"{mins // 60} h {mins % 60} min"
