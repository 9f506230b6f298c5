""""Check on me in an hour" after the emergency steps, Spanish reminders, YES keeping its other
meanings, and "press 7" on the phone: the real webhooks, RQ's scheduler and burst workers, the
twilio client against the local Twilio-compatible server."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.conversation.content import segments
from tests.conftest import Texter, drain
from tests.test_jobs import texts_to
from tests.test_reminders import CHECK_TEXT, NUMBER, OFFER, advance, record_count, scheduled
from tests.test_voice import Caller


@pytest.fixture()
def person(checkin_app):
    return Texter(checkin_app.test_client(), NUMBER)


def check_goes_out(app, fake_twilio) -> str:
    [at] = scheduled(app).values()
    assert abs(at - datetime.now(timezone.utc) - timedelta(hours=1)) < timedelta(minutes=2)
    advance(app, at)
    drain(app)
    [text] = texts_to(fake_twilio, NUMBER)
    return text


def test_check_after_the_emergency_steps_checks_in_an_hour_and_2_gets_crisis_help(
        checkin_app, fake_twilio, person):
    steps = person.send("my brother is not breathing")
    assert steps.startswith("CALL 911 NOW") and "CHECK" not in steps
    assert segments(steps).count <= 2  # the steps keep their budget: the offer comes next
    full = person.send("1")  # the overdose steps leave no room: the offer waits (issue 24)
    assert "What to do in an overdose" in full and "CHECK" not in full
    more = person.send("thanks")
    assert "Want a text from us in 1 hour to ask how you are? Reply CHECK" in more
    assert "It is only a text; no one will come" in more
    assert "we will text you" in person.send("CHECK")
    assert "Reply CHECK" not in person.send("0")  # offered once

    text = check_goes_out(checkin_app, fake_twilio)
    assert text.startswith("MN Overdose Help Line: " + CHECK_TEXT)
    help_now = person.send("2")
    assert "CALL 911 now" in help_now and "988" in help_now and "1-800-662-4357" in help_now
    assert record_count(checkin_app) == 0


def test_1_after_the_check_is_a_short_kind_reply_and_later_digits_are_menus_again(
        checkin_app, fake_twilio, person):
    person.send("he overdosed")
    person.send("CHECK")
    check_goes_out(checkin_app, fake_twilio)
    assert "Good to hear" in person.send("1")
    assert "reverses an opioid overdose" in person.send("0") + person.send("2")


def test_ok_after_the_steps_is_answered_and_nothing_is_sent_unasked(
        checkin_app, fake_twilio, person):
    person.send("she is turning blue")
    ok = person.send("ok")
    assert "Glad everyone is safe" in ok and "Reply CHECK" in ok
    person.send("0")
    assert scheduled(checkin_app) == {}
    assert advance(checkin_app, datetime.now(timezone.utc) + timedelta(days=8)) == 0
    drain(checkin_app)
    assert fake_twilio.messages == []


def test_check_without_an_emergency_asks_first(checkin_app, person):
    asked = person.send("CHECK")
    assert "Want us to text you in 1 hour to check on you? Reply YES" in asked
    assert "For regular check-in texts, text CHECKIN" in asked
    assert scheduled(checkin_app) == {}
    assert "we will text you" in person.send("YES")
    assert len(scheduled(checkin_app)) == 1


def test_a_spanish_speaker_books_and_gets_a_reminder_in_spanish(checkin_app, fake_twilio, person):
    person.send("ESPANOL")
    person.send("4")
    screen = person.send("6")
    assert "¿Te mandamos estos teléfonos por texto mañana temprano? Responde SI" in screen
    assert segments(screen).encoding == "GSM-7" and segments(screen).count <= 3
    booked = person.send("mañana a las 10")
    assert booked.startswith("Listo, te mandamos los teléfonos de tratamiento")
    assert "a las 10 am" in booked and "RECORDATORIOS" in booked
    listing = person.send("RECORDATORIOS")
    assert "- Los teléfonos de tratamiento, " in listing and "cancelarlos todos" in listing

    advance(checkin_app, datetime.now(timezone.utc) + timedelta(days=2))
    drain(checkin_app)
    [text] = texts_to(fake_twilio, NUMBER)
    assert text.startswith("Tu recordatorio de MN Overdose Help Line:")


@pytest.mark.parametrize("phrase", ["esta noche", "en 2 horas", "mañana", "mañana por la mañana",
                                    "9 de la noche"])
def test_spanish_times(checkin_app, person, phrase):
    person.send("hablar con alguien")
    booked = person.send(phrase)
    assert "te mandamos los teléfonos para hablar con alguien" in booked
    assert len(scheduled(checkin_app)) == 1


def test_checar_after_spanish_emergency_steps(checkin_app, fake_twilio, person):
    person.send("no respira")
    full = person.send("2")  # the naloxone how-to fills three segments: the offer waits for room
    assert "Para dar naloxona" in full and "CHECAR" not in full
    assert "CHECAR" not in person.send("0")  # the menu keeps its own 2 segments
    offer = person.send("gracias")
    assert "¿Quieres que te escribamos en 1 hora para saber de ti? Responde CHECAR" in offer
    assert segments(offer).count <= 3
    assert "para saber de ti" in person.send("CHECAR")
    assert "te escribimos para saber de ti. Responde 1 todo bien, 2 necesito ayuda" in (
        check_goes_out(checkin_app, fake_twilio))


def test_a_time_we_cannot_read_asks_again_and_the_offer_still_stands(checkin_app, person):
    person.send("4")
    person.send("6")
    assert "Say tonight, tomorrow, or a time like 9am" in person.send("tomorrow at 25")
    assert "To cancel, text REMINDERS" in person.send("tonight")
    assert len(scheduled(checkin_app)) == 1


def test_no_to_the_offer_books_nothing_and_digits_still_work(checkin_app, person):
    person.send("4")
    person.send("6")
    assert "OK, no reminder" in person.send("no")
    assert "You do not have to do this alone" in person.send("1")
    assert scheduled(checkin_app) == {}


def test_yes_keeps_its_other_meanings(checkin_app, person):
    assert "Reply YES to start" in " ".join(person.send(t) for t in ("CHECKIN", "1", "1"))
    assert "You are signed up" in person.send("YES")
    person.send("talk")
    person.send("STOP")
    assert "Welcome back" in person.send("YES")  # YES after STOP opts back in
    assert "Reply with a number" in person.send("YES")  # YES with nothing offered: the menu
    person.send("talk")
    person.send("FORGET")
    assert "We erased what we kept" in person.send("YES")  # a pending FORGET's YES wins
    assert scheduled(checkin_app) == {}


def test_an_offer_is_not_answered_after_the_person_moved_on(checkin_app, person):
    person.send("4")
    assert OFFER in person.send("6")
    person.send("0")
    person.send("YES")
    assert scheduled(checkin_app) == {}


def test_press_7_on_the_phone_books_tomorrow_mornings_text_once(checkin_app, fake_twilio):
    caller = Caller(checkin_app.test_client(), NUMBER)
    caller.start()
    caller.press("4")
    said = caller.press("6")
    assert "To get a text reminder tomorrow morning, press 7." in said
    assert "tomorrow morning" in caller.press("7")
    caller.retry()  # Twilio posts the same step again
    [at] = scheduled(checkin_app).values()
    assert at.astimezone(checkin_app.config["HELPLINE"].settings.tz).hour == 9

    advance(checkin_app, at)
    drain(checkin_app)
    [text] = texts_to(fake_twilio, NUMBER)
    assert "Your reminder from MN Overdose Help Line:\nFind a program:" in text
    assert "text reminder" not in caller.press("0")  # the main menu's 7 is check-ins
