"""Check-in rules (bot/checkins/rules.py) with time passed in, and the shared send rate on a real Redis."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.checkins.rules import MAX_LATE, MIN_LEAD, Plan, Rules, Slot, rotation
from bot.storage.ratelimit import TokenBucket

CHICAGO = ZoneInfo("America/Chicago")
RULES = Rules(CHICAGO, quiet_start=21, quiet_end=8)


def local(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=CHICAGO)


@pytest.mark.parametrize("hour, quiet", [(20, False), (21, True), (23, True), (0, True),
                                         (7, True), (8, False), (12, False)])
def test_quiet_hours_are_9pm_to_8am_local(hour, quiet):
    assert RULES.quiet(local(4, hour, 30)) is quiet


def test_quiet_hours_end_at_8am_the_same_or_next_morning():
    assert RULES.next_allowed(local(4, 22)) == local(5, 8)
    assert RULES.next_allowed(local(5, 3)) == local(5, 8)
    assert RULES.next_allowed(local(5, 14)) == local(5, 14)


def test_equal_start_and_end_means_no_quiet_hours():
    always = Rules(CHICAGO, quiet_start=0, quiet_end=0)
    assert not any(always.quiet(local(4, h)) for h in range(24))


def test_a_window_inside_custom_quiet_hours_moves_to_their_end_and_spread_stays_outside():
    late_risers = Rules(CHICAGO, quiet_start=20, quiet_end=10)
    slot = Slot(date(2025, 3, 4), "morning")  # 9 am, inside quiet hours that end at 10
    assert late_risers.start(slot) == local(4, 10)
    evening = Slot(date(2025, 3, 4), "evening")  # 6 pm, two hours before quiet hours
    dues = [late_risers.due(evening, f / 10) for f in range(11)]
    assert all(not late_risers.quiet(d) for d in dues)
    assert max(dues) < local(4, 20)


@pytest.mark.parametrize("window, hour", [("morning", 9), ("afternoon", 13), ("evening", 18)])
def test_every_send_time_falls_in_its_window_and_outside_quiet_hours(window, hour):
    slot = Slot(date(2025, 3, 4), window)
    dues = [RULES.due(slot, f / 20) for f in range(21)]
    assert min(dues) == local(4, hour)
    assert max(dues) < local(4, hour + 1)
    assert not any(RULES.quiet(d) for d in dues)


def test_spread_turns_random_fractions_into_distinct_times_across_the_hour():
    slot = Slot(date(2025, 3, 4), "morning")
    dues = {RULES.due(slot, i / 200) for i in range(200)}
    assert len(dues) == 200
    assert max(dues) - min(dues) > timedelta(minutes=55)


def test_first_check_in_comes_at_least_an_hour_after_sign_up():
    daily_morning = Plan("daily", "morning")
    assert RULES.first_slot(daily_morning, local(4, 7)) == Slot(date(2025, 3, 4), "morning")
    assert RULES.first_slot(daily_morning, local(4, 8, 30)) == Slot(date(2025, 3, 5), "morning")
    first = RULES.first_slot(Plan("weekly", "evening"), local(4, 12))
    assert RULES.start(first) - local(4, 12) >= MIN_LEAD


@pytest.mark.parametrize("freq, days", [("daily", 1), ("every3", 3), ("weekly", 7)])
def test_next_slot_follows_the_cadence(freq, days):
    slot = Slot(date(2025, 3, 4), "afternoon")
    assert RULES.next_slot(Plan(freq, "afternoon"), slot, local(4, 13, 30)) == slot.shifted(days)


def test_after_an_outage_missed_slots_are_skipped_on_the_cadence():
    slot = Slot(date(2025, 3, 4), "morning")
    nxt = RULES.next_slot(Plan("every3", "morning"), slot, local(12, 12))
    assert nxt == Slot(date(2025, 3, 13), "morning")  # 7th and 10th skipped, still every 3 days


def test_a_check_in_more_than_six_hours_late_is_late():
    due = local(4, 9).timestamp()
    assert not RULES.late(due, local(4, 9) + MAX_LATE)
    assert RULES.late(due, local(4, 9) + MAX_LATE + timedelta(minutes=1))


def test_slots_survive_a_daylight_saving_change():
    # Sunday 9 March 2025 clocks go forward in Chicago: 9 am is still 9 am local.
    slot = Slot(date(2025, 3, 8), "morning")
    nxt = RULES.next_slot(Plan("daily", "morning"), slot, local(8, 10))
    assert RULES.start(nxt).astimezone(CHICAGO).hour == 9
    assert RULES.start(nxt) - RULES.start(slot) == timedelta(hours=23)


def test_pause_resumes_at_the_first_slot_after_a_week():
    until = local(4, 10) + timedelta(days=7)
    assert RULES.resume_slot(Plan("daily", "morning"), until) == Slot(date(2025, 3, 12), "morning")
    assert RULES.resume_slot(Plan("daily", "evening"), until) == Slot(date(2025, 3, 11), "evening")


def test_slot_keys_round_trip_and_bad_ones_are_refused():
    slot = Slot(date(2025, 3, 4), "evening")
    assert Slot.parse(slot.key) == slot and slot.key == "2025-03-04-evening"
    with pytest.raises(ValueError):
        Slot.parse("2025-03-04-midnight")
    with pytest.raises(ValueError):
        Plan("hourly", "morning")


def test_rotation_never_repeats_a_note_twice_in_a_row_and_adds_a_tip_every_third_time():
    picks = [rotation("a" * 32, n, 5, 5) for n in range(30)]
    notes = [note for note, _ in picks]
    assert all(a != b for a, b in zip(notes, notes[1:]))
    assert [tip is not None for _, tip in picks[:6]] == [False, False, True, False, False, True]
    assert len({tip for _, tip in picks if tip is not None}) == 5
    assert rotation("a" * 32, 0, 5, 5) != rotation("b" * 32, 0, 5, 5)  # people differ


# --- the shared send rate ----------------------------------------------------------------------
def test_a_big_batch_is_spread_at_the_rate_not_refused(redis_client, redis_url):
    other_worker = redis.Redis.from_url(redis_url)
    a = TokenBucket(redis_client, "test:bucket", rate=2)
    b = TokenBucket(other_worker, "test:bucket", rate=2)
    waits = [bucket.reserve(now=1000.0) for bucket in (a, b, a, b, a, b)]
    assert waits == pytest.approx([0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert a.reserve(now=1010.0) == 0  # idle time refills the bucket
    other_worker.close()


def test_a_long_text_costs_one_token_per_segment_and_burst_allows_a_few_at_once(redis_client):
    bucket = TokenBucket(redis_client, "test:bucket", rate=1, burst=3)
    assert [bucket.reserve(now=0.0) for _ in range(4)] == pytest.approx([0, 0, 0, 1])
    long_text = TokenBucket(redis_client, "test:other", rate=1)
    assert long_text.reserve(cost=3, now=0.0) == 0
    assert long_text.reserve(now=0.0) == pytest.approx(3)


def test_the_bucket_uses_the_redis_clock_when_no_time_is_given(redis_client):
    bucket = TokenBucket(redis_client, "test:bucket", rate=1000)
    assert bucket.reserve() == 0
    slept = []
    bucket.wait(cost=1, sleep=slept.append)
    assert sum(slept) < 0.01
