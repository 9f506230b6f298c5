"""Issue 18, "Say it right": the phone's crisis line, the content check's Spanish reading level,
and words that must never come back (each a statement the public-health review found wrong)."""
from __future__ import annotations

import re

import pytest

from bot import create_app
from bot.config import load_settings
from tests.conftest import make_settings
from tests.test_voice import Caller


@pytest.fixture(scope="module")
def content_app(redis_url):
    return create_app(make_settings(redis_url))


def render_all(helpline, locale: str, channel: str) -> dict[str, str]:
    content = helpline.content
    out = {}
    for key in content.entries[locale]:
        try:
            out[key] = content.render(key, locale, channel)
        except Exception:  # screens that need parameters (places, plans) are checked elsewhere
            continue
    return out


# --- 988 for a crisis on the phone line --------------------------------------------------------
def test_crisis_line_defaults_to_the_988_lifelines_ten_digit_number():
    assert load_settings({"HELPLINE_ENV": "test"}).crisis_line_number == "+18002738255"
    assert load_settings({"HELPLINE_ENV": "test", "CRISIS_LINE_NUMBER": "+16125550988"}
                         ).crisis_line_number == "+16125550988"


def test_talk_to_someone_after_a_crisis_dials_crisis_line_number_not_the_live_line(
        redis_url, redis_client):
    app = create_app(make_settings(redis_url, CRISIS_LINE_NUMBER="+16125550988",
                                   LIVE_LINE_NUMBER="+16125559876"))
    caller = Caller(app.test_client())
    caller.start()
    assert "9 8 8 Lifeline now, press 1" in caller.say("I want to kill myself")
    said = caller.press("1")
    assert said.startswith("Connecting you now to the 9 8 8 Suicide and Crisis Lifeline")
    assert caller.root.find("./Dial").text == "+16125550988"
    # The main menu's "talk to someone" still reaches the operator's live line.
    caller = Caller(app.test_client(), "+16125550124")
    caller.start()
    caller.press("6")
    assert caller.root.find("./Dial").text == "+16125559876"


# --- the content check reads Spanish with a Spanish formula ----------------------------------
def test_content_check_reports_spanish_reading_ease_beside_the_english_grade(content_app):
    result = content_app.test_cli_runner().invoke(args=["content", "check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    spanish = [line for line in lines if line.startswith("es ") and " sms " in line]
    english = [line for line in lines if line.startswith("en ") and " sms " in line]
    assert spanish and all("Fernandez-Huerta" in line and "grade" in line for line in spanish)
    assert english and not any("Fernandez-Huerta" in line for line in english)


def test_spanish_reading_ease_is_computed_with_the_spanish_formula():
    from bot.conversation.checks import spanish_ease

    easy = spanish_ease("Llama al 911. Dale naloxona. Quédate con la persona.")
    hard = spanish_ease("La administración intramuscular de antagonistas opioides requiere "
                        "consideraciones farmacológicas particularmente específicas.")
    assert easy > 80 > hard


# --- words that must not come back ------------------------------------------------------------
@pytest.mark.parametrize("channel", ["sms", "voice"])
def test_english_says_no_immune_clean_abuse_pharmacist_portal_or_stops_cravings(
        content_app, channel):
    texts = render_all(content_app.config["HELPLINE"], "en", channel)
    banned = re.compile(r"\b(immune|clean syringes|abuse|pharmacist|portal|stops withdrawal "
                        r"and cravings|if they get worse)\b", re.I)
    assert {k: banned.search(t).group(0) for k, t in texts.items() if banned.search(t)} == {}


@pytest.mark.parametrize("channel", ["sms", "voice"])
def test_spanish_says_no_internado_limpias_abuso_farmaceutico_portal_or_detox(content_app, channel):
    texts = render_all(content_app.config["HELPLINE"], "es", channel)
    banned = re.compile(r"\b(internado|jeringas limpias|abuso|farmacéutico|portal|detox|"
                        r"quita la abstinencia|si empeora|aqui|de dia)\b", re.I)
    assert {k: banned.search(t).group(0) for k, t in texts.items() if banned.search(t)} == {}
    # "Chequeos" was unclear: the name is "textos de apoyo" (the word CHEQUEO still signs up).
    name = re.compile(r"\b[Cc]hequeos?\b")
    assert {k: name.search(t).group(0) for k, t in texts.items() if name.search(t)} == {}


@pytest.mark.parametrize("locale,breaths,side", [("en", "rescue breath", "on their side"),
                                                 ("es", "boca a boca", "de lado")])
@pytest.mark.parametrize("key", ["emergency.steps", "overdose.steps", "overdose.breathing"])
def test_rescue_breaths_come_before_the_side_position(content_app, locale, breaths, side, key):
    content = content_app.config["HELPLINE"].content
    for channel in ("sms", "voice"):
        text = content.render(key, locale, channel).lower()
        assert breaths in text and side in text, (key, channel)
        assert text.index(breaths) < text.index(side), (key, channel)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_every_screen_that_gives_doses_says_a_new_device_every_2_to_3_minutes(content_app, locale):
    content = content_app.config["HELPLINE"].content
    new_device = {"en": "new spray", "es": "spray nuevo"}[locale]
    for key in ("emergency.steps", "overdose.steps", "naloxone.use", "drugs.fentanyl"):
        for channel in ("sms", "voice"):
            text = content.render(key, locale, channel).lower()
            assert new_device in text and "2" in text and "3 min" in text, (key, channel, text)


def test_changed_facts_name_their_new_sources(content_app):
    content = content_app.config["HELPLINE"].content
    statute, guidance = "mn-statute-604A05-good-samaritan-overdose.md", "overdose-response-guidance.md"
    for locale in ("en", "es"):
        entries = content.entries[locale]
        for key in ("legal.good_samaritan", "legal.more", "legal.questions", "emergency.steps"):
            assert statute in entries[key].source, (locale, key)
        for key in ("emergency.steps", "overdose.steps", "overdose.breathing", "overdose.signs",
                    "overdose.after", "naloxone.use", "naloxone.otc", "naloxone.where",
                    "drugs.fentanyl", "crisis.line", "talk.lines", "sites.statewide",
                    "naloxone.nearby", "reminders.safe"):
            assert guidance in entries[key].source, (locale, key)
