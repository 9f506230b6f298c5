"""Staffed hours: a weekly schedule and holidays, in the helpline's time zone. PURE.

INBOX_HOURS lists when peers answer texts, entries separated by ";":

    mon-fri 09:00-17:00; sat 10:00-14:00        weekdays, and Saturday late morning
    daily 18:00-23:00                            every day
    fri,sat 20:00-02:00                          a span may cross midnight
    mon-thu 09:00-12:00 13:00-17:00              several spans on the same days

INBOX_HOLIDAYS lists local dates (YYYY-MM-DD, comma-separated) when nobody is staffed, whatever
the weekly schedule says. An empty INBOX_HOURS means the inbox is off.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = 7 * 1440  # minutes
LOOK_AHEAD_DAYS = 15  # a schedule whose next opening is further away than this says "not soon"
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class HoursError(ValueError):
    """INBOX_HOURS or INBOX_HOLIDAYS cannot be read; the message says what to write instead."""


@dataclass(frozen=True)
class Hours:
    """When the team answers texts: minute-of-week intervals (Monday 00:00 is 0) and holidays."""

    intervals: tuple[tuple[int, int], ...]
    holidays: frozenset[date]
    tz: ZoneInfo

    @property
    def on(self) -> bool:
        """Any staffed hours at all: without them the inbox is off."""
        return bool(self.intervals)

    def _in_week(self, minute: int) -> bool:
        return any(a <= minute < b for a, b in self.intervals)

    def staffed(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        if local.date() in self.holidays:
            return False
        return self._in_week(local.weekday() * 1440 + local.hour * 60 + local.minute)

    def next_start(self, now: datetime) -> datetime | None:
        """The next moment someone is staffed (now, when staffed now); None when not soon."""
        if self.staffed(now):
            return now
        local = now.astimezone(self.tz)
        for offset in range(LOOK_AHEAD_DAYS):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            after_holiday = (day - timedelta(days=1)) in self.holidays
            for minute in self._starts(day.weekday(), after_holiday):
                at = datetime.combine(day, time(minute // 60, minute % 60), self.tz)
                if at > local:
                    return at
        return None

    def _starts(self, weekday: int, after_holiday: bool) -> list[int]:
        """Minutes of the day when a staffed span begins (midnight too after a holiday)."""
        base = weekday * 1440
        starts = {a - base for a, _ in self.intervals
                  if base <= a < base + 1440 and not self._in_week((a - 1) % WEEK)}
        if after_holiday and self._in_week(base):
            starts.add(0)
        return sorted(starts)

    def describe(self) -> str:
        """The schedule in a line, for the console."""
        if not self.on:
            return "off (no staffed hours)"
        if self.intervals == ((0, WEEK),):
            return "always" + (f", except {len(self.holidays)} holiday(s)" if self.holidays else "")
        parts = []
        for a, b in self.intervals:
            parts.append(f"{DAYS[a // 1440]} {a % 1440 // 60:02d}:{a % 60:02d}-"
                         f"{DAYS[(b - 1) // 1440]} {(b % 1440 or 1440) // 60:02d}:{b % 60:02d}")
        return "; ".join(parts)


def _days(text: str) -> list[int]:
    found: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if part in ("daily", "every day", "all"):
            found += range(7)
        elif "-" in part:
            first, _, last = part.partition("-")
            if first not in DAYS or last not in DAYS:
                raise HoursError(f"INBOX_HOURS: {part!r} is not a range of days like mon-fri")
            a, b = DAYS.index(first), DAYS.index(last)
            found += [(a + i) % 7 for i in range((b - a) % 7 + 1)]
        elif part in DAYS:
            found.append(DAYS.index(part))
        else:
            raise HoursError(f"INBOX_HOURS: {part!r} is not a day (mon tue wed thu fri sat sun, "
                             "daily, or a range like mon-fri)")
    return found


def _span(text: str) -> tuple[int, int]:
    match = _SPAN.match(text)
    if not match:
        raise HoursError(f"INBOX_HOURS: {text!r} is not a span of hours like 09:00-17:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise HoursError(f"INBOX_HOURS: {text!r} has an hour that does not exist")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise HoursError(f"INBOX_HOURS: {text!r} starts and ends at the same time")
    return start, end if end > start else end + 1440  # past midnight: into the next day


def _merge(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted, overlaps joined, spans past Sunday night wrapped to Monday."""
    flat: list[tuple[int, int]] = []
    for a, b in intervals:
        if b > WEEK:
            flat += [(a, WEEK), (0, b - WEEK)]
        else:
            flat.append((a, b))
    merged: list[list[int]] = []
    for a, b in sorted(flat):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple((a, b) for a, b in merged)


def parse_hours(hours: str, holidays: str, tz: ZoneInfo) -> Hours:
    intervals: list[tuple[int, int]] = []
    for entry in filter(None, (e.strip().lower() for e in (hours or "").split(";"))):
        words = entry.split()
        spans = [w for w in words if _SPAN.match(w)]
        days = " ".join(w for w in words if not _SPAN.match(w))
        if not spans or not days:
            raise HoursError(f"INBOX_HOURS: {entry!r} needs days and hours, like "
                             "'mon-fri 09:00-17:00'")
        for day in _days(days):
            for start, end in (_span(s) for s in spans):
                intervals.append((day * 1440 + start, day * 1440 + end))
    dates = set()
    for raw in filter(None, (d.strip() for d in (holidays or "").split(","))):
        try:
            dates.add(date.fromisoformat(raw))
        except ValueError:
            raise HoursError(f"INBOX_HOLIDAYS: {raw!r} is not a date like 2025-12-25") from None
    return Hours(_merge(intervals), frozenset(dates), tz)
