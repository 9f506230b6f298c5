"""Issue 24: safety rules as data (content/safety_rules.yaml). Every rendered message, in every
language and on both channels, keeps them; each rule catches the statement that was wrong before;
and `flask content check` fails when a message breaks one, naming the file, key and rule."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot import create_app
from bot.conversation.checks import check_content
from bot.conversation.content import Content
from bot.conversation.safety import RuleError, check_renderings, load_rules
from tests.conftest import make_settings

CONTENT = Path(__file__).resolve().parent.parent / "content"


@pytest.fixture(scope="module")
def app(redis_url):
    return create_app(make_settings(redis_url))


@pytest.fixture(scope="module")
def helpline(app):
    return app.config["HELPLINE"]


@pytest.fixture(scope="module")
def rules(helpline):
    return load_rules(CONTENT, helpline.content.locales)


def broken(rules, key: str, locale: str, channel: str, text: str) -> set[str]:
    """The ids of the rules a message would break, as `content check` reports them."""
    errors = check_renderings(rules, [(f"{locale}/x.yaml", key, locale, channel, text)])
    return {e.split("safety rule '")[1].split("'")[0] for e in errors}


# --- today's content keeps every rule --------------------------------------------------------
def test_every_rendering_in_every_language_and_channel_keeps_the_safety_rules(helpline):
    reports, errors = check_content(helpline.content, helpline.flow)
    assert {r.locale for r in reports} == {"en", "es"} and {r.channel for r in reports} == {"sms", "voice"}
    assert [e for e in errors if "safety rule" in e] == []


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_clarifying_question_keeps_the_rules_with_every_label(helpline, rules, locale):
    """clarify.ask's example shows 3 screens; a person may be offered any of them."""
    content = helpline.content
    choices = sorted(helpline.flow.nodes)
    for channel in ("sms", "voice"):
        for i in range(0, len(choices), 3):
            text = content.render("clarify.ask", locale, channel, {"choices": choices[i:i + 3]})
            assert broken(rules, "clarify.ask", locale, channel, text) == set(), text


# --- each rule catches the statement that was wrong before ----------------------------------
BEFORE = [
    # (rule, key, locale, channel, the words before issue 24)
    ("after-naloxone-no-condition-on-911", "update.woke_up", "en", "sms",
     "Ask them to stay and get checked.\nStay with them. Breathing slows? Give another dose, call 911."),
    ("after-naloxone-911-even-if-awake", "update.woke_up", "en", "sms",
     "Ask them to stay and get checked.\nStay with them. Breathing slows? Give another dose, call 911."),
    ("after-naloxone-no-condition-on-911", "update.woke_up", "en", "voice",
     "Stay with them. If their breathing slows, give another dose and call 9 1 1."),
    ("after-naloxone-no-condition-on-911", "update.woke_up", "es", "sms",
     "Quédate con la persona. ¿Respira mas lento? Dale otra dosis, llama al 911."),
    ("after-naloxone-911-even-if-awake", "update.breathing", "es", "sms",
     "Bien. Llama al 911 de todos modos. Pon a la persona de lado."),
    ("law-protection-carries-its-conditions", "emergency.steps", "en", "sms",
     "CALL 911 NOW.\nMN law generally protects you if you call 911, stay & give your name."),
    ("law-protection-carries-its-conditions", "update.help_arrived", "en", "sms",
     "Stay and give your name: MN law generally protects you when you do. Not legal advice."),
    ("law-protection-carries-its-conditions", "emergency.steps", "es", "sms",
     "LLAMA AL 911 YA.\nLa ley generalmente te protege si llamas al 911, te quedas y das tu nombre."),
    ("law-protection-carries-its-conditions", "overdose.steps", "en", "voice",
     "For the law that protects you when you call 9 1 1, press 3."),
    # a screen another helper adds later is held to the same rule
    ("law-protection-carries-its-conditions", "grief.support", "en", "sms",
     "You did the right thing. The law protects people who call 911 for an overdose."),
    ("law-cooperate-not-agents", "legal.good_samaritan", "es", "sms",
     "- colaboras con los agentes y paramédicos"),
    ("law-never-immune", "legal.more", "en", "sms", "The caller is immune from prosecution."),
    ("no-alternative-to-911", "menu.main", "en", "voice",
     "If someone is overdosing now, hang up and call 9 1 1, or press 9."),
    ("no-alternative-to-911", "menu.main", "es", "voice",
     "Si alguien tiene una sobredosis ahora, cuelgue y llame al 9 1 1, u oprima 9."),
    ("no-false-promise", "talk.lines", "en", "voice",
     "Connecting you now to someone who can help. Please stay on the line."),
    ("no-false-promise", "talk.lines", "es", "voice",
     "Lo estamos conectando con alguien que puede ayudarle. Por favor, no cuelgue."),
    ("no-false-promise", "reminders.check_set", "en", "sms",
     "OK, we will check on you tomorrow at 8 am. To cancel, text REMINDERS."),
    ("steps-and-options-numbered-apart", "emergency.steps", "en", "sms",
     "CALL 911 NOW.\n1. Naloxone (Narcan): 1 spray in the nose.\n4. Stay: it can wear off.\n"
     "Reply 1 more, 4 breaths, 5 tranq"),
    ("slang-explained", "emergency.steps", "en", "sms", "CALL 911 NOW.\nReply 1 more, 4 breaths, 5 tranq"),
    ("voice-reads-numbers-digit-by-digit", "emergency.steps", "en", "voice",
     "Hang up and call 911 now. Repeat every 2-3 minutes."),
    ("spanish-accents-that-change-meaning", "update.help_arrived", "es", "sms",
     "Dile a los paramedicos que tomo y cuando, que le diste naloxona y cuantas dosis."),
    ("spanish-accents-that-change-meaning", "clarify.ask", "es", "sms",
     "¿Quieres decir:\n1 como dar naloxona\n2 donde conseguir naloxona\n3 ya desperto"),
    ("spanish-naloxone-wears-off-not-the-high", "emergency.steps", "es", "sms",
     "LLAMA AL 911 YA.\n¿No reacciona? Cada 2-3 min: spray nuevo. Quédate: el efecto se pasa."),
    ("emergency-911-first", "update.not_breathing", "en", "sms",
     "Give another dose: a NEW naloxone device in the other nostril. Call 911 if no one has."),
    # the second reading (docs/content-review.md): the words before it
    ("law-says-what-it-covers", "emergency.steps", "en", "sms",
     "CALL 911 NOW.\nMN law generally protects you if you give name & contact, stay & cooperate with police & medics."),
    ("law-says-what-it-covers", "update.called_911", "es", "sms",
     "La ley de MN en general te protege si das tu nombre y contacto, te quedas y cooperas con la patrulla."),
    ("law-says-what-it-covers", "emergency.steps", "es", "voice",
     "La ley de Minnesota generalmente lo protege cuando llama al 9 1 1 por una sobredosis, si da su nombre."),
    ("steps-911-before-any-step", "overdose.breathing", "en", "sms",
     "Rescue breaths, if they are not breathing:\n- Lay them on their back. Tilt the chin up.\n"
     "- Pinch the nose. Give 2 normal breaths into the mouth.\nCall 911 and give naloxone too."),
    ("steps-911-before-any-step", "overdose.breathing", "es", "voice",
     "Cómo dar respiración de boca a boca.\nAcuéstela boca arriba.\nLlame al 9 1 1, y dele naloxona también."),
    ("naloxone-repeat-only-without-response", "drugs.fentanyl", "en", "sms",
     "- Fentanyl is an opioid. Naloxone works on it, but it may take more than 1 dose: a new spray every 2-3 min."),
    ("naloxone-repeat-only-without-response", "drugs.fentanyl", "es", "voice",
     "La naloxona funciona, pero puede hacer falta más de una dosis. Dele un spray nuevo cada 2 a 3 minutos."),
]


@pytest.mark.parametrize("rule, key, locale, channel, text", BEFORE,
                         ids=[f"{r}:{k}:{loc}:{ch}" for r, k, loc, ch, _ in BEFORE])
def test_each_rule_catches_the_statement_that_was_wrong(rules, rule, key, locale, channel, text):
    assert rule in broken(rules, key, locale, channel, text)


def test_the_right_statements_pass(rules, helpline):
    content = helpline.content
    for key in ("update.woke_up", "emergency.steps", "update.help_arrived", "talk.lines", "menu.main",
                "update.called_911", "overdose.breathing", "drugs.fentanyl"):
        for locale in ("en", "es"):
            for channel in ("sms", "voice"):
                text = content.render(key, locale, channel)
                assert broken(rules, key, locale, channel, text) == set(), (key, locale, channel)


# --- content check enforces them --------------------------------------------------------------
def test_content_check_fails_on_a_message_that_breaks_a_rule(helpline, tmp_path):
    shutil.copytree(CONTENT, tmp_path / "content")
    updates = tmp_path / "content" / "en" / "updates.yaml"
    data = yaml.safe_load(updates.read_text(encoding="utf-8"))
    data["update.woke_up"]["sms"] = ("Ask them to stay.\nBreathing slows? Give another dose, call 911.\n"
                                     "Reply 1 after an overdose")
    updates.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    content = Content(tmp_path / "content", "en", dict(helpline.content.env.globals))
    _, errors = check_content(content, helpline.flow)
    assert any(e.startswith("en/updates.yaml: update.woke_up (sms): safety rule "
                            "'after-naloxone-no-condition-on-911'") for e in errors), errors
    assert any("'after-naloxone-911-even-if-awake'" in e for e in errors)


def test_content_check_command_runs_the_rules_and_passes(app):
    result = app.test_cli_runner().invoke(args=["content", "check"])
    assert result.exit_code == 0, result.output
    assert "content OK" in result.output


# --- the rules file itself ----------------------------------------------------------------
def write_rules(tmp_path, rule: dict) -> Path:
    (tmp_path / "safety_rules.yaml").write_text(yaml.safe_dump({"rules": [rule]}), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("rule, message", [
    ({"id": "x", "why": "w", "source": "helpline", "must": {"en": ["a"]}}, "no patterns for ['es']"),
    ({"id": "x", "why": "w", "source": "helpline", "must": {"*": ["(a"]}}, "bad pattern '(a'"),
    ({"id": "x", "why": "w", "source": "helpline", "must": {"*": ["a"]}, "colour": 1}, "unknown field"),
    ({"id": "x", "source": "helpline", "must": {"*": ["a"]}}, "needs an id, a why and a source"),
    ({"id": "x", "why": "w", "source": "helpline", "check": "vibes"}, "unknown check 'vibes'"),
    ({"id": "x", "why": "w", "source": "helpline"}, "says nothing"),
])
def test_a_wrong_rule_is_refused_with_its_id_and_what_to_fix(tmp_path, rule, message):
    with pytest.raises(RuleError) as caught:
        load_rules(write_rules(tmp_path, rule), ["en", "es"])
    assert "rule x" in str(caught.value) or "(no id)" in str(caught.value) or "rule" in str(caught.value)
    assert message in str(caught.value)


def test_a_rule_for_one_language_needs_no_patterns_for_the_others(tmp_path):
    rule = {"id": "x", "why": "w", "source": "helpline", "locales": ["es"], "must_not": {"es": ["mas"]}}
    [loaded] = load_rules(write_rules(tmp_path, rule), ["en", "es"])
    assert not loaded.applies("k", "en", "sms", "mas") and loaded.applies("k", "es", "sms", "mas")
