"""Issue 24: every texted message is easy to read. English: Flesch-Kincaid grade 8 or below, 6 on
the screens read during an overdose (emergency.*, update.*). Spanish: Fernández-Huerta 60 or
more. Measured with textstat as a person reads a text: a line break ends a sentence."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot import create_app
from bot.conversation.checks import (MAX_GRADE, MAX_GRADE_URGENT, MIN_EASE, as_read, check_content,
                                     grade, spanish_ease)
from bot.conversation.content import Content
from tests.conftest import make_settings

CONTENT = Path(__file__).resolve().parent.parent / "content"


@pytest.fixture(scope="module")
def checked(redis_url):
    helpline = create_app(make_settings(redis_url)).config["HELPLINE"]
    reports, errors = check_content(helpline.content, helpline.flow)
    return helpline, reports, errors


def texted(reports, locale):
    return [r for r in reports
            if r.locale == locale and r.channel == "sms" and not r.key.startswith("voice.")]


def test_every_english_sms_reads_at_grade_8_or_below_and_6_in_an_overdose(checked):
    _, reports, _ = checked
    english = texted(reports, "en")
    assert len(english) > 100
    too_hard = {r.key: round(r.grade, 1) for r in english
                if r.grade > (MAX_GRADE_URGENT if r.key.startswith(("emergency.", "update."))
                              else MAX_GRADE)}
    assert too_hard == {}


def test_every_spanish_sms_reads_at_fernandez_huerta_60_or_more(checked):
    _, reports, _ = checked
    spanish = texted(reports, "es")
    assert len(spanish) > 100
    assert {r.key: round(r.ease, 1) for r in spanish if r.ease < MIN_EASE} == {}


@pytest.mark.parametrize("locale, key", [("en", "treatment.groups"), ("en", "reminders.list"),
                                         ("en", "treatment.menu"), ("es", "reminders.too_many")])
def test_the_screens_the_review_found_hard_now_read_easily(checked, locale, key):
    helpline, _, _ = checked
    content = helpline.content
    raw = yaml.safe_load((CONTENT / content.entries[locale][key].file).read_text(encoding="utf-8"))
    text = content.render(key, locale, "sms", raw[key].get("example") or {})
    if locale == "en":
        assert grade(text) <= MAX_GRADE
    else:
        assert spanish_ease(text) >= MIN_EASE


def test_a_line_break_ends_a_sentence_as_the_phone_line_reads_it():
    menu = "Treatment works. Reply:\n1 Medicines\n2 Counseling & mental health\n0 menu"
    assert as_read(menu) == "Treatment works. Reply: 1 Medicines. 2 Counseling & mental health. 0 menu."


def test_content_check_fails_on_a_text_too_hard_to_read(checked, tmp_path):
    helpline, _, _ = checked
    shutil.copytree(CONTENT, tmp_path / "content")
    path = tmp_path / "content" / "en" / "talk.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["talk.lines"]["sms"] = ("Individuals experiencing considerable psychological distress "
                                 "should contemplate contacting specialized organizations "
                                 "immediately.\nReply 1 find treatment, 0 menu")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    content = Content(tmp_path / "content", "en", dict(helpline.content.env.globals))
    _, errors = check_content(content, helpline.flow)
    assert any(e.startswith("en/talk.yaml: talk.lines: SMS reads at grade") for e in errors), errors


def test_content_check_passes_with_no_reading_problem(checked):
    _, _, errors = checked
    assert [e for e in errors if "reads at" in e] == []
