"""The dashboard's figures: anonymous counts for today and a range of days (30 by default), by
language, with the share of messages not understood, and health.

Everything comes from counters that hold no person: screen visits (store.py), the console's
usage counters (usage.py), check-in counts (bot/checkins), outbound results, RQ's queues.
Counts from 1 to 4 are shown as "<5" (suppress) so a small town's one lookup identifies no one.
"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone

from bot.console import usage
from bot.inbox.figures import minutes
from bot.ops import health
from bot.places.live import WARN_DAYS
from bot.places.sites import expires

DAYS = 30
MAX_DAYS = 400   # the counters are kept 400 days (bot/storage/store.py STATS_TTL)
SMALL = 5


def suppress(n: int) -> str:
    return f"<{SMALL}" if 0 < n < SMALL else f"{n:,}"


def rate(part: int, whole: int) -> str:
    """A share as a percentage, only when both counts are 5 or more (else it would tell a count)."""
    return f"{100 * part / whole:.0f}%" if part >= SMALL and whole >= SMALL else "—"


def date_range(raw_from: str | None, raw_to: str | None, today: date) -> tuple[date, date, str]:
    """(first day, last day, a problem to show or ''): the last DAYS days by default, at most
    MAX_DAYS, never after today."""
    problem = ""
    try:
        end = date.fromisoformat(raw_to) if raw_to else today
        start = date.fromisoformat(raw_from) if raw_from else end - timedelta(days=DAYS - 1)
    except ValueError:
        start, end, problem = today - timedelta(days=DAYS - 1), today, "Dates look like 2026-03-14."
    end = min(end, today)
    if start > end:
        start, problem = end, "The first day came after the last: showing one day."
    if (end - start).days >= MAX_DAYS:
        start, problem = end - timedelta(days=MAX_DAYS - 1), f"At most {MAX_DAYS} days are kept."
    return start, end, problem


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def figures(helpline, start: date | None = None, end: date | None = None,
            now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    end = end or now.date()
    start = start or end - timedelta(days=DAYS - 1)
    days = days_between(start, end)
    client = helpline.redis
    visits = [helpline.store.visits(day) for day in days]
    counts = [usage.read(client, day) for day in days]
    today = now.date().isoformat()
    today_visits = helpline.store.visits(today) if today not in days else visits[days.index(today)]
    today_counts = usage.read(client, today) if today not in days else counts[days.index(today)]
    checkin_stats = _checkin_stats(helpline, days, today)

    def pair(rows, today_row, name):
        return {"today": today_row.get(name, 0), "month": sum(r.get(name, 0) for r in rows)}

    texts_in = [r.get("in:sms", 0) for r in counts]
    screens, places, failures, unsure_top = Counter(), Counter(), Counter(), Counter()
    for row in visits:
        screens.update(row)
    for row in counts:
        for name, n in row.items():
            if name.startswith("place:"):
                places[name[6:]] += n
            elif name.startswith("failed:"):
                failures[name[7:]] += n
            elif name.startswith("unsure_top:"):
                unsure_top[name[11:]] += n
    locales = list(helpline.content.locales)
    replies = {name: pair(visits, today_visits, node) for name, node in
               (("OK", "checkin_ok"), ("hard time", "checkin_hard"), ("need help", "checkin_help"))}
    return {
        "days": days, "start": start, "end": end, "locales": locales,
        "rows": {
            "conversations": pair(counts, today_counts, "conversations"),
            "texts in": pair(counts, today_counts, "in:sms"),
            "texts out (replies)": pair(counts, today_counts, "out:sms"),
            "calls": pair(counts, today_counts, "calls"),
            "emergencies (overdose steps shown)": pair(visits, today_visits, "emergency"),
            "crises (crisis steps shown)": pair(visits, today_visits, "crisis"),
            "reminders booked": pair(counts, today_counts, "reminders_booked"),
        },
        "texts_by_day": list(zip(days, texts_in)),
        "daily": [_day_row(day, row, vrow, locales) for day, row, vrow in zip(days, counts, visits)],
        "languages": _languages(counts, locales),
        "unsure_top": unsure_top.most_common(10),
        "screens": screens.most_common(12),
        "places": places.most_common(12),
        "failures": failures.most_common(),
        "checkin_replies": replies,
        "checkin_stats": checkin_stats,
        "subscribers": _subscribers(helpline),
        "sends": helpline.store.sends(),
        "health": _health(helpline, now),
        "to_verify": sites_to_verify(helpline, now.date()),
        "inbox": _inbox(helpline, now),
    }


def sites_to_verify(helpline, today: date) -> list[dict]:
    """Active sites no longer offered for want of a check, or within WARN_DAYS of it."""
    sites = getattr(helpline, "sites", None)
    if sites is None:
        return []
    max_days, found = helpline.settings.sites_verify_max_days, []
    if max_days <= 0:  # no limit set: nothing stops being offered for want of a check
        return []
    for site in sites.all.sites:
        if site.status != "active":
            continue
        last = expires(site, max_days)                 # None: never verified
        left = (last - today).days if last else -1
        if left <= WARN_DAYS:
            found.append({"id": site.id, "name": site.name, "left": left})
    return sorted(found, key=lambda s: s["left"])


def _day_row(day: str, row: dict, visits: dict, locales: list[str]) -> dict:
    """One day's figures, as the CSV export and the tables under the charts show them."""
    out = {"day": day, "conversations": row.get("conversations", 0),
           "texts_in": row.get("in:sms", 0), "replies_out": row.get("out:sms", 0),
           "calls": row.get("calls", 0), "emergencies": visits.get("emergency", 0),
           "crises": visits.get("crisis", 0), "reminders_booked": row.get("reminders_booked", 0)}
    for loc in locales:
        out[f"texts_in_{loc}"] = row.get(f"in:sms:{loc}", 0)
        out[f"not_understood_{loc}"] = row.get(f"unknown:{loc}", 0)
        out[f"unsure_{loc}"] = row.get(f"unsure:{loc}", 0)
    out["not_understood"] = sum(row.get(f"unknown:{loc}", 0) for loc in locales)
    return out


def _languages(counts: list[dict], locales: list[str]) -> list[dict]:
    """Texts in, not understood and unsure per language over the range."""
    found = []
    for loc in locales:
        texts = sum(r.get(f"in:sms:{loc}", 0) for r in counts)
        unknown = sum(r.get(f"unknown:{loc}", 0) for r in counts)
        unsure = sum(r.get(f"unsure:{loc}", 0) for r in counts)
        found.append({"locale": loc, "texts": texts, "unknown": unknown, "unsure": unsure,
                      "rate": rate(unknown, texts)})
    return found


CSV_COLUMNS = ("day", "conversations", "texts_in", "replies_out", "calls", "emergencies", "crises",
               "reminders_booked", "not_understood")


def csv_rows(data: dict) -> tuple[list[str], list[list[str]]]:
    """The daily figures as CSV columns and rows, every count 1 to 4 written as "<5"."""
    columns = list(CSV_COLUMNS)
    for loc in data["locales"]:
        columns += [f"texts_in_{loc}", f"not_understood_{loc}", f"unsure_{loc}"]
    rows = [[row["day"]] + [suppress(row[c]) for c in columns[1:]] for row in data["daily"]]
    return columns, rows


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


def _checkin_stats(helpline, days: list[str], today: str) -> dict[str, dict]:
    host = helpline.extras.get("checkins")
    if host is None:
        return {}
    rows = [host.subs.stats(day) for day in days]
    today_row = host.subs.stats(today)
    names = sorted({name for row in rows + [today_row] for name in row})
    return {name: {"today": today_row.get(name, 0), "month": sum(r.get(name, 0) for r in rows)}
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
