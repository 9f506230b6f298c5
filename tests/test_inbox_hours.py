"""Staffed hours (bot/inbox/hours.py) and the inbox's figures (bot/inbox/figures.py): pure
rules, with `now` passed in, and the settings that refuse a schedule nobody could read."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, load_settings
from bot.inbox import figures
from bot.inbox.host import flow_for
from bot.inbox.hours import HoursError, parse_hours

TZ = ZoneInfo("America/Chicago")
WEEK = "mon-fri 09:00-17:00; sat 10:00-14:00; fri,sat 22:00-02:00"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


@pytest.mark.parametrize("moment, staffed, next_start", [
    ("2025-03-05T08:59", False, "2025-03-05T09:00"),  # a Wednesday morning
    ("2025-03-05T09:00", True, "2025-03-05T09:00"),
    ("2025-03-05T16:59", True, "2025-03-05T16:59"),
    ("2025-03-05T17:00", False, "2025-03-06T09:00"),
    ("2025-03-07T23:30", True, "2025-03-07T23:30"),   # Friday night, past midnight too
    ("2025-03-08T01:59", True, "2025-03-08T01:59"),
    ("2025-03-08T02:00", False, "2025-03-08T10:00"),
    ("2025-03-09T12:00", False, "2025-03-10T09:00"),  # Sunday: Monday morning
    ("2025-12-24T18:00", False, "2025-12-26T09:00"),  # the holiday is skipped
    ("2025-12-25T10:00", False, "2025-12-26T09:00"),
])
def test_the_weekly_schedule_holidays_and_the_next_opening(moment, staffed, next_start):
    hours = parse_hours(WEEK, "2025-12-25", TZ)
    assert hours.staffed(at(moment)) is staffed
    assert hours.next_start(at(moment)) == at(next_start)


def test_the_schedule_follows_the_local_clock_across_a_daylight_saving_change():
    hours = parse_hours("daily 09:00-17:00", "", TZ)
    assert hours.next_start(at("2025-03-08T18:00")) == at("2025-03-09T09:00")  # CST -> CDT
    assert hours.staffed(datetime.fromisoformat("2025-03-10T14:30+00:00"))  # 09:30 CDT


def test_always_staffed_reopens_at_midnight_after_a_holiday():
    hours = parse_hours("daily 00:00-24:00", "2025-07-04", TZ)
    assert not hours.staffed(at("2025-07-04T12:00"))
    assert hours.next_start(at("2025-07-04T12:00")) == at("2025-07-05T00:00")


def test_no_hours_means_the_inbox_is_off():
    hours = parse_hours("", "", TZ)
    assert not hours.on and not hours.staffed(at("2025-03-05T12:00"))
    assert hours.next_start(at("2025-03-05T12:00")) is None


@pytest.mark.parametrize("hours, holidays, says", [
    ("weekdays 9-5", "", "needs days and hours"),
    ("mon-fri 9am-5pm", "", "needs days and hours"),
    ("mon-fry 09:00-17:00", "", "is not a range of days"),
    ("mon 09:00-09:00", "", "starts and ends at the same time"),
    ("mon 25:00-26:00", "", "an hour that does not exist"),
    ("mon 09:00-17:00", "Christmas", "is not a date like 2025-12-25"),
])
def test_a_schedule_nobody_could_read_stops_the_start_with_the_reason(hours, holidays, says):
    with pytest.raises(HoursError, match=says):
        parse_hours(hours, holidays, TZ)
    with pytest.raises(ConfigError, match=says):  # as the app and the worker are built
        flow_for(load_settings({"INBOX_HOURS": hours, "INBOX_HOLIDAYS": holidays}))


@pytest.mark.parametrize("name, value", [("INBOX_UNCLAIMED_MINUTES", "0"),
                                         ("INBOX_RETENTION_DAYS", "0"),
                                         ("INBOX_STREAM_SECONDS", "5")])
def test_timers_out_of_range_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_retention_must_outlast_the_idle_close():
    with pytest.raises(ConfigError, match="must outlast INBOX_IDLE_HOURS"):
        load_settings({"INBOX_RETENTION_DAYS": "1", "INBOX_IDLE_HOURS": "48"})


def test_quantiles_are_nearest_rank_and_fewer_than_five_are_not_shown():
    assert figures.quantile([5, 1, 3], 0.5) == 3
    assert figures.quantile(list(range(1, 11)), 0.9) == 9
    assert figures.quantile([], 0.5) is None
    assert figures._spread([60, 120, 180, 240]) == {"n": 4, "median": None, "p90": None}
    assert figures._spread([60, 120, 180, 240, 600])["p90"] == 600
    assert figures.minutes(None) == "-" and figures.minutes(20) == "<1 min"
    assert figures.minutes(4800) == "1 h 20 min"


def test_the_inbox_rules_are_pure_and_the_inbox_never_imports_the_console():
    """hours.py and flow.py run inside the engine's step: no Redis, Flask, RQ or Twilio; and
    the console sits above bot/inbox/, never below it (docs/architecture.md)."""
    from tests.test_layout import BOT, FORBIDDEN_IN_PURE, imports_of

    for name in ("hours.py", "flow.py"):
        found = imports_of(BOT / "inbox" / name)
        assert not {m for m in found for f in FORBIDDEN_IN_PURE
                    if m == f or m.startswith(f + ".")}, name
    for path in (BOT / "inbox").glob("*.py"):
        assert not any(m.startswith("bot.console") for m in imports_of(path)), path.name
