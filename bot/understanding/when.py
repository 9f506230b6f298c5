"""When a person wants a reminder: "tonight", "tomorrow 9am", "in 2 hours", "mañana", "esta noche".

A small, pure parser for the phrases the reminder offer suggests, in English and Spanish, read in
the helpline's time zone. parse() answers a UTC time; None when the text is not about a time at
all (so "1" stays a menu choice and "55811" a place); it raises Unclear for a time it cannot read
("tomorrow at 25"), so the person can be asked again. Tested in tests/test_when.py.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

PARTS = {"morning": 9, "afternoon": 13, "evening": 18, "night": 19}
DAY_STARTS = 4                   # before 4 am, "tomorrow" is the coming day: nobody has slept yet
MAX_AHEAD = timedelta(days=7)    # further than this is not a reminder about what you just read
SOON = timedelta(minutes=1)      # "in 0 minutes" still leaves time to answer the confirmation

_NUMBERS = {"a": 1, "an": 1, "one": 1, "un": 1, "una": 1, "uno": 1, "two": 2, "dos": 2,
            "three": 3, "tres": 3, "four": 4, "cuatro": 4, "five": 5, "cinco": 5, "six": 6,
            "seis": 6, "seven": 7, "siete": 7, "eight": 8, "ocho": 8, "nine": 9, "nueve": 9,
            "ten": 10, "diez": 10, "eleven": 11, "once": 11, "twelve": 12, "doce": 12,
            "half an": 0.5, "half a": 0.5, "media": 0.5}
_UNITS = {"h": 60, "hr": 60, "hrs": 60, "hour": 60, "hours": 60, "hora": 60, "horas": 60,
          "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "minuto": 1, "minutos": 1}
_NUMBER = "|".join(sorted((re.escape(w) for w in _NUMBERS), key=len, reverse=True))
_UNIT = "|".join(sorted(_UNITS, key=len, reverse=True))
_RELATIVE = re.compile(rf"(?:in|en|dentro de)?\s*(\d+(?:\.\d+)?|{_NUMBER})\s*({_UNIT})")
# Parts of the day; Spanish "mañana" is the morning only after "por la / en la / de la".
_PART_WORDS = [
    (r"\btonight\b|\besta noche\b", "night", 0), (r"\bthis (morning|afternoon|evening)\b", None, 0),
    (r"\besta tarde\b", "afternoon", 0), (r"\b(?:por|en|de) la manana\b", "morning", None),
    (r"\b(?:por|en|de) la tarde\b", "afternoon", None), (r"\b(?:por|en|de) la noche\b", "night", None),
    (r"\b(?:in the )?(morning|afternoon|evening|night)\b", None, None),
    (r"\btemprano\b", "morning", None), (r"\b(?:noon|mediodia)\b", "noon", None)]
_DAY_WORDS = [(r"\b(?:tomorrow|tomorow|tommorow|tmrw|tmr|manana)\b", 1), (r"\b(?:today|hoy)\b", 0)]
_CLOCK = re.compile(r"(?:\b(at|a las|a la|@)\s*)?\b(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b")
_FILLER = set("yes y si sure ok okay please pls por favor remind me text send it us at a las la "
              "el the around about like como o or de en on please thanks gracias recuerdame "
              "mandamelo mandame enviame".split())
_TIMEISH = re.compile(r"\b(?:later|luego|despues|oclock|hours?|hrs?|horas?|minutes|mins?|"
                      r"minutos|tomorrow|manana|tonight|noche|morning|evening|afternoon|tarde)\b")


class Unclear(ValueError):
    """The text is about a time, but not one we can read: ask with an example."""


def normalize(text: str) -> str:
    """Lower case, no accents, 'p.m.' -> 'pm', punctuation (but ':') -> space."""
    text = unicodedata.normalize("NFKD", (text or "").lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"\b([ap])\.?\s?m\b\.?", r"\1m", text)
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9:@ ]+", " ", text)).strip()


def parse(text: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The UTC time a phrase names, None if it names no time; Unclear if it cannot be read."""
    words = normalize(text)
    relative = _RELATIVE.fullmatch(" ".join(_unfilled(words.split())))
    if relative:
        return _within(now, now + _span(*relative.groups()))
    day, part, words = _take_day_and_part(words)
    clock, words = _take_clock(words, bool(day is not None or part))
    leftover = [w for w in words.split() if w not in _FILLER]
    if day is None and part is None and clock is None:
        if _TIMEISH.search(normalize(text)):
            raise Unclear(text)
        return None
    if leftover:
        raise Unclear(text)
    return _within(now, _resolve(now.astimezone(tz), day, part, clock, tz))


def default(now: datetime, tz: ZoneInfo) -> datetime:
    """What a plain YES means: tomorrow morning."""
    return _resolve(now.astimezone(tz), 1, "morning", None, tz)


def describe(at: datetime, now: datetime, tz: ZoneInfo) -> dict:
    """Parts of a local time for templates, which word it per language ("tomorrow at 9 am")."""
    local, today = at.astimezone(tz), now.astimezone(tz).date()
    rel = {today: "today", today + timedelta(days=1): "tomorrow"}.get(local.date(), "later")
    return {"rel": rel, "h": local.hour, "m": local.minute, "day": local.day,
            "month": local.month, "wd": local.weekday()}


def _unfilled(words: list[str]) -> list[str]:
    """'yes remind me in 2 hours' -> 'in 2 hours' (filler before the time, not inside it)."""
    while words and words[0] in _FILLER - {"in", "en", "a", "an", "una", "un"}:
        words = words[1:]
    return words


def _span(amount: str, unit: str) -> timedelta:
    value = float(_NUMBERS.get(amount, 0) or amount)
    return timedelta(minutes=value * _UNITS[unit])


def _take_day_and_part(words: str) -> tuple[int | None, str | None, str]:
    day = part = None
    for pattern, name, offset in _PART_WORDS:
        match = re.search(pattern, words)
        if match and part is None:
            part = name or match.group(1)
            day = offset if offset is not None else day
            words = words[:match.start()] + " " + words[match.end():]
    for pattern, offset in _DAY_WORDS:
        match = re.search(pattern, words)
        if match:
            if day is not None and day != offset:
                raise Unclear(words)
            day, words = offset, words[:match.start()] + " " + words[match.end():]
    return day, part, words


def _take_clock(words: str, has_day: bool) -> tuple[tuple[int, int, str | None] | None, str]:
    """'9am', '9:30 pm', '21:00', 'at 9': a bare number counts only with 'at' or a day word."""
    for match in _CLOCK.finditer(words):
        at, hour, minute, half = match.groups()
        if not (at or minute or half or has_day):
            continue
        hour, minute = int(hour), int(minute or 0)
        if minute > 59 or hour > 23 or (half and not 1 <= hour <= 12):
            raise Unclear(words)
        return (hour, minute, half), words[:match.start()] + " " + words[match.end():]
    return None, words


def _hour(clock: tuple[int, int, str | None], part: str | None) -> int:
    """24-hour clock from '9', '9pm', '9 de la noche'; a bare 1-6 is afternoon, 7-11 morning."""
    hour, _, half = clock
    if half:
        return hour % 12 + (12 if half == "pm" else 0)
    if hour >= 12 or hour == 0:
        return hour
    if part in ("afternoon", "evening", "night") or (part is None and hour <= 6):
        return hour + 12
    return hour


def _resolve(local: datetime, day: int | None, part: str | None, clock, tz: ZoneInfo) -> datetime:
    if clock is not None:
        hour, minute = _hour(clock, part), clock[1]
    elif part == "noon":
        hour, minute = 12, 0
    elif part is not None:
        hour, minute = PARTS[part], 0
    elif day == 1:
        hour, minute = PARTS["morning"], 0
    else:
        raise Unclear("today, but when?")
    base = local.date()
    if day == 1 and local.hour >= DAY_STARTS:
        base += timedelta(days=1)
    at = _at(base, hour, minute, tz)
    if at > local:
        return at
    if day == 0 and part == "night":
        return local + timedelta(hours=1)  # "tonight" at 8 pm: in an hour, not tomorrow night
    if day is None or (day == 1 and local.hour < DAY_STARTS):
        return _at(base + timedelta(days=1), hour, minute, tz)
    raise Unclear("a time that has passed")


def _at(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tz)


def _within(now: datetime, at: datetime) -> datetime:
    if at - now > MAX_AHEAD:
        raise Unclear("too far ahead")
    return max(at, now + SOON).astimezone(timezone.utc)
