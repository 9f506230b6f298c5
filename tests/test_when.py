"""The reminder time parser (bot/understanding/when.py): the phrases people send, in English and Spanish, read in
the helpline's time zone; text that is not about a time is left alone; unreadable times are
Unclear so the person can be asked again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.understanding import when

TZ = ZoneInfo("America/Chicago")
TUESDAY_2PM = datetime(2025, 3, 4, 14, 0, tzinfo=TZ)  # Tue 4 March 2025


def local(text: str, now: datetime = TUESDAY_2PM) -> str:
    at = when.parse(text, now, TZ)
    assert at is None or at.tzinfo == timezone.utc
    return at.astimezone(TZ).strftime("%a %H:%M") if at else None


@pytest.mark.parametrize("text, expected", [
    ("tonight", "Tue 19:00"),
    ("tomorrow", "Wed 09:00"),
    ("tomorrow morning", "Wed 09:00"),
    ("Tomorrow 9am", "Wed 09:00"),
    ("tomorrow at 9", "Wed 09:00"),
    ("tomorrow at 9:30 p.m.", "Wed 21:30"),
    ("tomorrow night", "Wed 19:00"),
    ("in 2 hours", "Tue 16:00"),
    ("in an hour", "Tue 15:00"),
    ("in half an hour", "Tue 14:30"),
    ("in 30 minutes", "Tue 14:30"),
    ("2h", "Tue 16:00"),
    ("9am", "Wed 09:00"),           # 9 am has passed today: the next one
    ("9:30 pm", "Tue 21:30"),
    ("21:00", "Tue 21:00"),
    ("at 5", "Tue 17:00"),          # a bare 1-6 is the afternoon
    ("noon", "Wed 12:00"),
    ("yes tomorrow please", "Wed 09:00"),
    ("remind me in 2 hrs", "Tue 16:00"),
    # Spanish
    ("mañana", "Wed 09:00"),
    ("mañana por la mañana", "Wed 09:00"),
    ("Sí, mañana temprano", "Wed 09:00"),
    ("mañana a las 9", "Wed 09:00"),
    ("mañana en la noche", "Wed 19:00"),
    ("esta noche", "Tue 19:00"),
    ("en 2 horas", "Tue 16:00"),
    ("en una hora", "Tue 15:00"),
    ("en media hora", "Tue 14:30"),
    ("9 de la noche", "Tue 21:00"),
    ("a las 10", "Wed 10:00"),
])
def test_phrases_people_send(text, expected):
    assert local(text) == expected


@pytest.mark.parametrize("text", ["1", "6", "0", "55811", "Duluth", "narcan near me", "at home",
                                  "where can I get naloxone", "hola", "I am scared", ""])
def test_text_that_is_not_about_a_time_is_left_for_the_menu(text):
    assert when.parse(text, TUESDAY_2PM, TZ) is None


@pytest.mark.parametrize("text", ["later", "tomorrow at 25", "25:00", "13pm", "today",
                                  "in 500 hours", "tomorrow at the clinic", "this morning",
                                  "tomorrow tonight", "luego"])
def test_a_time_we_cannot_read_is_unclear(text):
    with pytest.raises(when.Unclear):
        when.parse(text, TUESDAY_2PM, TZ)


def test_before_4am_tomorrow_means_the_coming_day():
    night = datetime(2025, 3, 4, 1, 30, tzinfo=TZ)  # still "Monday night" for the person
    assert local("tomorrow", night) == "Tue 09:00"
    assert local("mañana a las 9", night) == "Tue 09:00"
    assert when.default(night, TZ).astimezone(TZ).strftime("%a %H:%M") == "Tue 09:00"
    assert when.default(TUESDAY_2PM, TZ).astimezone(TZ).strftime("%a %H:%M") == "Wed 09:00"


def test_tonight_after_seven_is_in_an_hour():
    assert local("tonight", datetime(2025, 3, 4, 19, 40, tzinfo=TZ)) == "Tue 20:40"


def test_times_are_read_in_the_helpline_time_zone_across_daylight_saving():
    saturday = datetime(2025, 3, 8, 14, 0, tzinfo=TZ)  # DST starts Sunday 9 March, 2 am
    at = when.parse("tomorrow 9am", saturday, TZ)
    assert at == datetime(2025, 3, 9, 14, 0, tzinfo=timezone.utc)  # 9 am CDT = 14:00 UTC


def test_describe_gives_the_parts_templates_word():
    at = datetime(2025, 3, 5, 15, 30, tzinfo=timezone.utc)  # Wed 9:30 am CST
    assert when.describe(at, TUESDAY_2PM, TZ) == {"rel": "tomorrow", "h": 9, "m": 30, "day": 5,
                                                 "month": 3, "wd": 2}
    assert when.describe(TUESDAY_2PM + timedelta(hours=1), TUESDAY_2PM, TZ)["rel"] == "today"
    assert when.describe(TUESDAY_2PM + timedelta(days=3), TUESDAY_2PM, TZ)["rel"] == "later"
