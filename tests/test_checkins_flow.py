"""Signing up for check-ins and controlling them, by text through the real signed /sms webhook."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.checkins.rules import PAUSE, WINDOWS
from bot.conversation.content import segments
from tests.conftest import Texter

NUMBER = "+16125550123"
FAR = datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp()


@pytest.fixture()
def subs(helpline):
    return helpline.extras["checkins"].subs


def subject(helpline, number: str = NUMBER) -> str:
    return helpline.vault.subject(number)


def sign_up(texter: Texter, often: str = "1", when: str = "1") -> str:
    texter.send("CHECKIN")
    texter.send(often)
    texter.send(when)
    return texter.send("YES")


def local_hour(helpline, ts: float) -> int:
    return datetime.fromtimestamp(ts, timezone.utc).astimezone(helpline.settings.tz).hour


def test_sign_up_from_the_menu_asks_how_often_and_when_then_needs_yes(texter, helpline, subs):
    texter.send("hi")
    hub = texter.send("7")
    assert "ask how you are doing" in hub and "1 Sign up" in hub
    assert "How often" in texter.send("1")
    assert "What time of day" in texter.send("2")
    confirm = texter.send("3")
    for words in ("MN Overdose Help Line", "every 3 days", "evening", "Msg & data rates may apply",
                  "Reply STOP to cancel, HELP for help", "Reply YES"):
        assert words in confirm
    assert subs.load(subject(helpline)) is None and subs.count_due(FAR) == 0  # nothing before YES

    started = texter.send("YES")

    assert "You are signed up" in started and "first check-in comes" in started
    sub = subs.load(subject(helpline))
    assert (sub.status, sub.plan.freq, sub.plan.window, sub.locale) == ("active", "every3",
                                                                        "evening", "en")
    assert local_hour(helpline, sub.due) == WINDOWS["evening"]
    assert NUMBER not in sub.number and helpline.vault.decrypt(sub.number) == NUMBER
    assert subs.count_due(FAR) == 1


def test_no_at_the_confirmation_or_wandering_off_schedules_nothing(texter, subs):
    texter.send("CHECKIN")
    texter.send("1")
    texter.send("1")
    assert "no check-in texts" in texter.send("NO")
    texter.send("check in")
    texter.send("1")
    texter.send("2")
    assert "reverses an opioid overdose" in texter.send("narcan")
    texter.send("yes")
    assert subs.count_due(FAR) == 0


def test_a_wrong_number_at_a_choice_gets_a_hint_and_the_choice_still_works(texter):
    texter.send("CHECKIN")
    assert "not on this list" in texter.send("7")
    assert "What time of day" in texter.send("1")


def test_a_number_at_the_yes_or_no_question_asks_it_again_and_yes_still_signs_up(texter, subs):
    texter.send("CHECKIN")
    texter.send("1")
    texter.send("2")
    again = texter.send("1")
    assert "reply YES" in again and "NO" in again and "not on this list" not in again
    assert subs.count_due(FAR) == 0
    assert "You are signed up" in texter.send("yes")
    assert subs.count_due(FAR) == 1


def test_status_pause_resume_and_change_by_keyword(texter, helpline, subs):
    sign_up(texter)
    status = texter.send("STATUS")
    assert "every day in the morning" in status and "Next one" in status
    before = subs.load(subject(helpline)).due

    paused = texter.send("pause")

    assert "paused for a week" in paused
    sub = subs.load(subject(helpline))
    week = datetime.now(timezone.utc) + PAUSE - timedelta(minutes=1)
    assert sub.status == "paused" and sub.due >= sub.paused_until >= week.timestamp() > before
    assert "Paused until" in texter.send("status")
    assert "back on" in texter.send("RESUME")
    assert subs.load(subject(helpline)).status == "active"
    texter.send("CHANGE")
    texter.send("3")
    texter.send("2")
    assert "next check-in" in texter.send("yes")
    assert "once a week in the afternoon" in texter.send("STATUS")
    assert subs.count_due(FAR) == 1


def test_the_check_in_menu_shows_the_plan_and_pauses_and_stops(texter, helpline, subs):
    sign_up(texter, "3", "3")
    hub = texter.send("checkin")
    assert "once a week in the evening" in hub and "1 Change" in hub
    assert "paused for a week" in texter.send("3")
    assert "back on" in texter.send("4")
    assert "Check-in texts are off" in texter.send("5")
    assert subs.count_due(FAR) == 0
    assert "not signed up" in texter.send("STATUS")
    assert "reverses an opioid overdose" in texter.send("narcan")  # the helpline still answers


def test_controls_without_a_subscription_say_how_to_sign_up(texter):
    for word in ("STATUS", "PAUSE", "RESUME"):
        assert "not signed up" in texter.send(word) and "CHECKIN" in texter.send(word)


def test_stop_cancels_every_future_check_in_in_the_same_step(texter, helpline, subs):
    sign_up(texter)

    assert "unsubscribed" in texter.send("STOP")

    sub = subs.load(subject(helpline))
    assert sub.status == "stopped" and sub.number == ""  # the encrypted number is gone too
    assert subs.count_due(FAR) == 0 and subs.in_flight() == 0


@pytest.mark.parametrize("word", ["stopall", "unsubscribe", "cancel", "end", "quit", "revoke",
                                  "optout", "PARAR"])
def test_every_opt_out_word_cancels_check_ins(texter, subs, word):
    sign_up(texter)
    texter.send(word)
    assert subs.count_due(FAR) == 0


def test_start_after_stop_offers_check_ins_again_but_does_not_resume_them(texter, subs):
    sign_up(texter)
    texter.send("STOP")

    back = texter.send("START")

    assert "Welcome back" in back and "check-in texts are still off" in back and "CHECKIN" in back
    assert subs.count_due(FAR) == 0
    assert "How often" in texter.send("CHECKIN")


def test_check_ins_cannot_be_started_while_opted_out(texter, subs):
    texter.send("STOP")
    assert "START first" in texter.send("CHECKIN")
    texter.send("1")
    texter.send("1")
    texter.send("YES")
    assert subs.count_due(FAR) == 0


def test_spanish_sign_up_keeps_the_language_for_the_check_ins(client, helpline, subs):
    texter = Texter(client, "+16125550177")
    texter.send("ESPANOL")
    texter.send("CHEQUEO")
    texter.send("1")
    confirm = texter.send("2")
    assert "Pueden aplicar tarifas de mensajes y datos" in confirm
    assert "STOP para cancelar, AYUDA para ayuda" in confirm
    assert "te inscribimos" in texter.send("SI")
    assert subs.load(subject(helpline, "+16125550177")).locale == "es"
    assert "Tus textos de apoyo" in texter.send("ESTADO")


def test_changing_language_later_changes_the_check_ins_language(texter, helpline, subs):
    sign_up(texter)
    texter.send("ESPANOL")
    assert subs.load(subject(helpline)).locale == "es"


def test_many_people_in_one_window_are_spread_over_the_hour(client, helpline, subs):
    dues = []
    for n in range(40):
        number = f"+1612555{n:04d}"
        sign_up(Texter(client, number), "1", "1")
        dues.append(subs.load(subject(helpline, number)).due)
    assert len(set(dues)) == 40
    assert max(dues) - min(dues) > timedelta(minutes=30).total_seconds()
    assert {local_hour(helpline, d) for d in dues} == {WINDOWS["morning"]}


def test_every_variant_of_every_check_in_screen_fits_three_segments(helpline):
    content, days = helpline.content, [{"wd": wd, "day": 28, "month": 12} for wd in range(7)]
    for locale in content.locales:
        for freq in ("daily", "every3", "weekly"):
            for window in WINDOWS:
                plan = {"freq": freq, "window": window}
                screens = [("checkin.confirm", plan)]
                for day in days:
                    screens += [("checkin.started", {**plan, "first": day, "changed": changed})
                                for changed in (False, True)]
                    screens += [(key, {**plan, "status": status, "reason": "", "next": day,
                                       "until": day})
                                for key in ("checkin.menu", "checkin.status")
                                for status in ("active", "paused", "held")]
                    screens += [("checkin.paused", {"until": day}), ("checkin.resumed", {"next": day})]
                for key, params in screens:
                    text = content.render(key, locale, "sms", params)
                    assert segments(text).count <= 3, f"{locale} {key} {params}: {text}"
