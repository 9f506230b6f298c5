"""The phone line on the same understanding as texts (issue 17 F): the clarifying question by
voice and its key, and the emergency window opened by key 9. Meanings are written out here so
the rules are tested whatever the trained model says; tests/transcripts_voice/ has real speech."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from bot.voice.phone_tree import Call, Heard, PhoneTree, MENU
from bot.conversation.engine import State
from tests.meanings import Meaning

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)


def tree(helpline, table):
    engine = replace(helpline.engine, understand=lambda text, locale: table.get(text, Meaning()))
    return PhoneTree.build(engine, helpline.content, ("en", "es"))


def heard(phone, plan, locale="en"):
    return " ".join(phone.content.render(l.key, l.locale, "voice", l.params) for l in plan.lines)


def test_an_unsure_answer_by_voice_asks_with_keys_and_the_key_opens_the_screen(helpline):
    phone = tree(helpline, {"my cousin": Meaning(intents=(("treatment", 0.4), ("legal", 0.3)))})
    call = Call(State(), 0, MENU)
    call, plan = phone.answer(call, Heard(speech="my cousin"), NOW)
    said = heard(phone, plan)
    assert "For treatment, press 1." in said and "For the law if you call 9 1 1, press 2." in said
    call, plan = phone.answer(call, Heard(speech="two"), NOW)
    assert call.state.node == "legal"


def test_key_9_opens_the_emergency_window_for_spoken_updates(helpline):
    none = Meaning(intents=(("update_no_naloxone", 0.99),), confident=True)
    phone = tree(helpline, {"i dont have any narcan": none})
    call, _ = phone.answer(Call(State(), 0, MENU), Heard(digits="9"), NOW)
    call, plan = phone.answer(call, Heard(speech="i dont have any narcan"), NOW + timedelta(minutes=3))
    assert call.state.node == "update_no_naloxone"
    assert "rescue breaths" in heard(phone, plan)
    late, _ = phone.answer(Call(State(), 0, MENU), Heard(digits="9"), NOW)
    late, _ = phone.answer(late, Heard(speech="i dont have any narcan"), NOW + timedelta(minutes=31))
    assert late.state.node == "naloxone_where"  # after the window: where to get it


def test_spanish_updates_by_voice_read_in_spanish(helpline):
    called = Meaning(emergency=True, intents=(("update_called_911", 0.99),), confident=True)
    phone = tree(helpline, {"ya llamé al 911": called})
    call, _ = phone.answer(Call(State(locale="es"), 0, MENU), Heard(digits="9"), NOW)
    call, plan = phone.answer(call, Heard(speech="ya llamé al 911"), NOW + timedelta(minutes=1))
    assert call.state.node == "update_called_911"
    said = heard(phone, plan)
    assert "Quédese con la persona" in said and "no es un consejo legal" in said
