"""Check-in rules, pure: plans, slots, quiet hours, spread and message rotation.

No clock and no Redis here: every function takes `now`, so a test can walk a subscription through
weeks of check-ins in microseconds, and the engine, the dispatcher and the CLI agree on one set
of rules.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

# How often (days between check-ins) and when (local hour a window opens). Codes are stored in
# Redis and passed to templates, which word them per language.
FREQUENCIES = {"daily": 1, "every3": 3, "weekly": 7}
WINDOWS = {"morning": 9, "afternoon": 13, "evening": 18}
SPREAD = timedelta(minutes=60)   # sends of one window are spread over this much time
MIN_LEAD = timedelta(hours=1)    # the first check-in comes at least this long after YES
MAX_LATE = timedelta(hours=6)    # a check-in later than this (outage) is skipped, not sent
PAUSE = timedelta(days=7)        # PAUSE lasts a week, then check-ins resume with a note
FAILURES_TO_HOLD = 3             # undelivered check-ins in a row before they are put on hold
TIP_EVERY = 3                    # every third check-in carries a short safety tip
LIVE = ("active", "paused", "held")  # statuses that still have check-ins coming (or on hold)
HELD = float("inf")              # the due time of one on hold: counted, never due


@dataclass(frozen=True)
class Plan:
    """What a person chose: how often and at what time of day."""

    freq: str
    window: str

    def __post_init__(self) -> None:
        if self.freq not in FREQUENCIES or self.window not in WINDOWS:
            raise ValueError(f"unknown check-in plan {self.freq!r}/{self.window!r}")

    @property
    def days(self) -> int:
        return FREQUENCIES[self.freq]


@dataclass(frozen=True, order=True)
class Slot:
    """One check-in occasion, a local day and a window; its key names the send's idempotency key."""

    day: date
    window: str

    @property
    def key(self) -> str:
        return f"{self.day.isoformat()}-{self.window}"

    @classmethod
    def parse(cls, key: str) -> "Slot":
        day, _, window = str(key).rpartition("-")
        if window not in WINDOWS:
            raise ValueError(f"not a check-in slot: {key!r}")
        return cls(date.fromisoformat(day), window)

    def shifted(self, days: int) -> "Slot":
        return Slot(self.day + timedelta(days=days), self.window)


@dataclass(frozen=True)
class Rules:
    """The helpline's time zone and quiet hours; start == end means no quiet hours at all."""

    tz: ZoneInfo
    quiet_start: int = 21
    quiet_end: int = 8
    spread: timedelta = SPREAD

    @classmethod
    def from_settings(cls, settings) -> "Rules":
        return cls(settings.tz, settings.quiet_start_hour, settings.quiet_end_hour)

    # --- quiet hours -----------------------------------------------------------------------
    def quiet(self, when: datetime) -> bool:
        """True between quiet_start and quiet_end local time (the range may wrap midnight)."""
        if self.quiet_start == self.quiet_end:
            return False
        hour = when.astimezone(self.tz).hour
        if self.quiet_start > self.quiet_end:
            return hour >= self.quiet_start or hour < self.quiet_end
        return self.quiet_start <= hour < self.quiet_end

    def next_allowed(self, when: datetime) -> datetime:
        """`when` itself outside quiet hours, else the moment they end."""
        if not self.quiet(when):
            return when
        local = when.astimezone(self.tz)
        day = local.date() if local.hour < self.quiet_end else local.date() + timedelta(days=1)
        return self._at(day, self.quiet_end)

    def _room(self, start: datetime) -> timedelta:
        """How much spread fits after `start` before quiet hours begin."""
        if self.quiet_start == self.quiet_end:
            return self.spread
        local = start.astimezone(self.tz)
        quiet_at = self._at(local.date(), self.quiet_start)
        if quiet_at <= start:
            quiet_at = self._at(local.date() + timedelta(days=1), self.quiet_start)
        return min(self.spread, quiet_at - start)

    def _at(self, day: date, hour: int) -> datetime:
        return datetime.combine(day, time(hour), self.tz).astimezone(timezone.utc)

    # --- slots -----------------------------------------------------------------------------
    def start(self, slot: Slot) -> datetime:
        """When a slot opens (UTC), moved past quiet hours if an operator set them over a window."""
        return self.next_allowed(self._at(slot.day, WINDOWS[slot.window]))

    def due(self, slot: Slot, fraction: float) -> datetime:
        """The send time: the slot's start plus a share of the spread, never into quiet hours."""
        start = self.start(slot)
        return start + self._room(start) * min(max(fraction, 0.0), 0.999)

    def first_slot(self, plan: Plan, now: datetime) -> Slot:
        """The first slot at least MIN_LEAD away, so a sign-up is not answered by a check-in."""
        slot = Slot(now.astimezone(self.tz).date(), plan.window)
        while self.start(slot) < now + MIN_LEAD:
            slot = slot.shifted(1)
        return slot

    def next_slot(self, plan: Plan, after: Slot, now: datetime) -> Slot:
        """The next slot on the person's cadence that has not started; missed ones are skipped."""
        slot = Slot(after.day, plan.window).shifted(plan.days)
        while self.start(slot) <= now:
            slot = slot.shifted(plan.days)
        return slot

    def resume_slot(self, plan: Plan, until: datetime) -> Slot:
        """The first slot that opens once a pause has ended."""
        slot = Slot(until.astimezone(self.tz).date(), plan.window)
        while self.start(slot) < until:
            slot = slot.shifted(1)
        return slot

    def late(self, due_ts: float, now: datetime) -> bool:
        """Too late to ask "how are you today": after an outage, skip rather than flood."""
        return now.timestamp() - due_ts > MAX_LATE.total_seconds()

    def local_day(self, when: datetime) -> dict:
        """Parts of a local date for templates, which word them per language."""
        local = when.astimezone(self.tz)
        return {"wd": local.weekday(), "day": local.day, "month": local.month}


@dataclass(frozen=True)
class Subscription:
    """One person's check-ins as stored (bot/checkins/subscriptions.py); the number stays encrypted."""

    subject: str
    status: str
    plan: Plan | None
    locale: str = "en"
    slot: str = ""
    due: float = 0.0
    number: str = ""
    fails: int = 0
    count: int = 0
    paused_until: float = 0.0
    reason: str = ""
    inflight: str = ""
    inflight_due: float = 0.0
    job: str = ""
    kind: str = "checkin"
    epoch: str = ""  # FORGET's tombstone when they signed up (bot/storage/tombstone.py)

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @classmethod
    def from_hash(cls, subject: str, raw: dict) -> "Subscription | None":
        data = {text(k): text(v) for k, v in (raw or {}).items()}
        if not data.get("status"):
            return None
        try:
            plan = Plan(data.get("freq", ""), data.get("window", ""))
        except ValueError:
            plan = None
        num = lambda name: float(data.get(name) or 0)  # noqa: E731
        return cls(subject, data["status"], plan, data.get("locale") or "en", data.get("slot", ""),
                   num("due"), data.get("num", ""), int(num("fails")), int(num("count")),
                   num("paused_until"), data.get("reason", ""), data.get("inflight", ""),
                   num("inflight_due"), data.get("job", ""), data.get("kind") or "checkin",
                   data.get("epoch", ""))

    def facts(self) -> dict[str, Any]:
        """What the engine may know (Context.subscription): the plan and dates, never the number."""
        return {"status": self.status, "freq": self.plan.freq if self.plan else "",
                "window": self.plan.window if self.plan else "", "locale": self.locale,
                "next": self.due if self.due != HELD else 0.0,
                "paused_until": self.paused_until, "reason": self.reason}


def text(value) -> str:
    """Redis answers bytes; the record holds str."""
    return value.decode() if isinstance(value, bytes) else str(value or "")


def offset(subject: str) -> int:
    """A stable per-person number, so people who signed up together do not get the same words."""
    return int(hashlib.sha256(subject.encode()).hexdigest()[:8], 16)


def rotation(subject: str, count: int, notes: int, tips: int) -> tuple[int, int | None]:
    """Which note (and, every TIP_EVERY-th time, which tip) the count-th check-in uses.

    Consecutive check-ins never repeat a note when there are two or more notes.
    """
    start = offset(subject)
    note = (start + count) % notes
    if not tips or count % TIP_EVERY != TIP_EVERY - 1:
        return note, None
    return note, (start + count // TIP_EVERY) % tips
