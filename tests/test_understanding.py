"""The understanding layer (bot/understanding/meaning.py) as the engine sees it: Meaning's fields,
the emergency floor and its precedence over the law, negations, places inside sentences, the
caches, and the held-out figures (docs/understanding.md). Pure: no Redis, no app.
"""
from __future__ import annotations

import dataclasses
import unicodedata
from pathlib import Path

import pytest
import zipcodes
from hypothesis import given, settings, strategies as st

from bot.understanding import meaning as meaning_module
from bot.understanding.evaluate import evaluate, heldout_rows
from bot.understanding.meaning import Meaning, Understanding

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
DATA = Path(__file__).resolve().parent / "data"
# What the places package knows: every MN town name, main and accepted (as bot/places/locator.py).
TOWNS = sorted({name for row in zipcodes.filter_by(state="MN")
                for name in (row["city"], *row["acceptable_cities"])})


@pytest.fixture(scope="module")
def understanding(tmp_path_factory) -> Understanding:
    return Understanding.from_dir(CONTENT, TOWNS, cache_dir=tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def report(understanding):
    return evaluate(understanding, heldout_rows(DATA))


# --- the contract ---------------------------------------------------------------------------------
def test_meaning_has_the_contract_fields_and_is_frozen(understanding):
    found = understanding.read("where can i get narcan in duluth", "en")
    assert isinstance(found, Meaning)
    assert [f.name for f in dataclasses.fields(Meaning)] == [
        "emergency", "crisis", "intents", "confident", "place", "unsure", "signal", "doubt",
        "words", "read_rules"]
    assert found.top == "naloxone_where" and found.confident and found.place == "Duluth"
    assert found.emergency is False and found.crisis is False
    assert len(found.intents) == 3
    scores = [score for _, score in found.intents]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    assert all(isinstance(name, str) and isinstance(s, float) for name, s in found.intents)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.emergency = True


def test_top_of_no_intents_is_none():
    assert Meaning(False, False, (), False, None).top is None


def test_a_repeated_text_is_answered_from_the_memo(understanding):
    first = understanding.read("como consigo narcan", "es")
    assert understanding.read("como consigo narcan", "es") is first


def test_gibberish_is_not_confident(understanding):
    found = understanding.read("qzx vvbn pplk")
    assert not found.confident and not found.emergency and not found.unsure


@pytest.mark.parametrize("text, intent", [
    ("hes breathing again", "update_breathing"),
    ("still not breathing after narcan", "update_not_breathing"),
    ("we dont have narcan", "update_no_naloxone"),
    ("ambulance is on the way", "update_called_911"),
    ("the paramedics are here", "update_help_arrived"),
    ("he woke up and wants to leave", "update_woke_up"),
    ("ya respira", "update_breathing"),
    ("ya llegaron los paramedicos", "update_help_arrived"),
    ("stop the check ins", "checkin_stop"),
    ("where can i get narcan", "naloxone_where"),
    ("que es la naloxona", "naloxone_what"),
])
def test_plain_messages_get_their_intent(understanding, text, intent):
    assert understanding.read(text).top == intent


# --- emergency first, and the law ---------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "will i get in trouble if i call 911",
    "will i get arrested if i call 911",
    "does the law protect me if i call",
    "si llamo al 911 me van a deportar",
    "me pueden arrestar si llamo al 911 por una sobredosis",
    "im on probation can i still call 911 for my friend",
])
def test_a_question_about_calling_is_legal_not_an_emergency(understanding, text):
    found = understanding.read(text)
    assert found.top == "legal" and not found.emergency, found


@pytest.mark.parametrize("text", [
    "my friend isnt breathing will i get arrested if i call",
    "hes overdosing will i get in trouble if i call 911",
    "no respira y me van a deportar si llamo al 911",
    "she wont wake up does the good samaritan law cover me",
])
def test_someone_in_danger_now_wins_over_the_law(understanding, text):
    assert understanding.read(text).emergency


@pytest.mark.parametrize("text", [
    "he isnt overdosing",
    "my brother overdosed last year",
    "if someone overdoses what do i do",
    "how do i know if someone is overdosing",
    "can narcan hurt someone who isnt overdosing",
    "como se si alguien tiene una sobredosis",
    "que hago si alguien tiene una sobredosis",
])
def test_negated_past_and_hypothetical_overdoses_are_not_emergencies(understanding, text):
    assert not understanding.read(text).emergency


@pytest.mark.parametrize("text", [
    "idk if hes overdosing", "hes not breathing", "cant wake her up", "no respira",
    "911", "call 911 now", "HES OD'ING RIGHT NOW", "mi hijo no despierta",
])
def test_the_rules_are_a_floor(understanding, text):
    assert understanding.read(text).emergency


def test_the_classifier_adds_a_possible_emergency_the_rules_miss(understanding):
    text = "my sister used a bag and now she is making no sense and her head keeps dropping"
    assert understanding.detector.detect(text) is None
    found = understanding.read(text)
    assert found.emergency or found.unsure


def test_crisis_is_flagged_and_loses_to_an_emergency(understanding):
    assert understanding.read("i want to kill myself").crisis
    both = understanding.read("i want to die and my friend is not breathing")
    assert both.emergency and not both.crisis


# --- places inside text ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, place", [
    ("narcan near duluth", "Duluth"),
    ("i live in bemidji where is narcan", "Bemidji"),
    ("en minneapolis", "Minneapolis"),
    ("55811", "55811"),
    ("is there free narcan around 56601 or not", "56601"),
    ("where can i get narcan in st paul", "Saint Paul"),
    ("narcan st cloud", "Saint Cloud"),
    ("vivo en worthington donde consigo naloxona", "Worthington"),
    ("narcan cerca de rochester", "Rochester"),
    ("narcan in hope mn", "Hope"),
    ("im in hope where is narcan", "Hope"),
    ("narcan near young america", "Young America"),
    ("where is narcan in minneaplis", "Minneapolis"),
    ("is there narcan in bemidgi", "Bemidji"),
    ("sleepy eye mn narcan", "Sleepy Eye"),
])
def test_a_place_is_found_anywhere_in_a_sentence(understanding, text, place):
    assert understanding.read(text).place == place


@pytest.mark.parametrize("text", [
    "i hope he is ok", "i need to cook dinner", "we ate rice and he passed out",
    "my friend is savage lol", "welcome", "young america", "ham lake is pretty", "max dose",
    "hola como estas", "quiero dejar las drogas", "la policia esta aqui", "help me please",
    "he is in the center of the room", "call me at 651 555 0123", "911", "it's been 55 minutes",
    "my zip is 90210", "i got 99 problems", "٥٥٨١١", "５５８１１",
])
def test_everyday_words_and_other_numbers_are_not_places(understanding, text):
    assert understanding.read(text).place is None


DIGITS = [chr(c) for c in range(0x110000)
          if unicodedata.category(chr(c)) == "Nd" and not chr(c).isascii()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(DIGITS), min_size=1, max_size=12),
       st.sampled_from(["", "narcan near ", "zip ", "mi codigo es ", "55811 "]))
def test_other_script_digits_never_raise_and_are_never_a_zip(understanding, digits, prefix):
    text = prefix + "".join(digits)
    found = understanding.read(text)
    assert isinstance(found, Meaning)
    assert found.place in (None, "55811")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_meaning(understanding, text):
    found = understanding.read(text)
    assert isinstance(found, Meaning) and len(found.intents) == 3


@pytest.mark.parametrize("odd", [None, b"bytes", 42, "", " ", "\x00", "\ud800", "a" * 100_000])
def test_odd_input_gives_a_safe_meaning(understanding, odd):
    found = understanding.read(odd)
    assert isinstance(found, Meaning)


# --- caches ----------------------------------------------------------------------------------------
def test_the_model_is_cached_per_process_and_on_disk(tmp_path, understanding, monkeypatch):
    assert Understanding.from_dir(CONTENT, cache_dir=tmp_path).source == "memory"
    monkeypatch.setattr(meaning_module, "_MODELS", {})
    first = Understanding.from_dir(CONTENT, cache_dir=tmp_path)
    assert first.source == "trained"
    monkeypatch.setattr(meaning_module, "_MODELS", {})
    second = Understanding.from_dir(CONTENT, cache_dir=tmp_path)
    assert second.source == "disk"
    text = "how do i use narcan on my friend"
    assert second.read(text) == first.read(text)


def test_a_corrupt_cache_retrains_and_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(meaning_module, "_MODELS", {})
    Understanding.from_dir(CONTENT, cache_dir=tmp_path)
    (archive,) = tmp_path.glob("model-*.npz")
    archive.write_bytes(b"not a numpy archive")
    monkeypatch.setattr(meaning_module, "_MODELS", {})
    again = Understanding.from_dir(CONTENT, cache_dir=tmp_path)
    assert again.source == "trained" and again.read("no respira").emergency
    monkeypatch.setattr(meaning_module, "_MODELS", {})
    assert Understanding.from_dir(CONTENT, cache_dir=tmp_path).source == "disk"


def test_an_unwritable_cache_still_starts(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setattr(meaning_module, "_MODELS", {})
    found = Understanding.from_dir(CONTENT, cache_dir=blocked)
    assert found.source == "trained" and found.read("where is narcan").top == "naloxone_where"


# --- held-out figures (never fitted to) ------------------------------------------------------------
def test_heldout_emergency_recall_is_total(report):
    assert report.emergency_total >= 40
    missed = [m for m in report.misses if m[1] == "emergency" and not m[4]]
    assert report.emergency_recall == 1.0, missed


def test_heldout_false_alarms_stay_at_or_below_five_percent(report):
    assert report.non_emergency_total >= 150
    assert report.false_alarm_rate <= 0.05, [m for m in report.misses if m[4]]


def test_heldout_law_is_not_read_as_an_emergency(report):
    assert report.legal_total >= 15
    assert report.legal_as_emergency <= 1 and report.emergency_as_legal == 0


def test_heldout_crisis_is_flagged_and_only_there(report):
    assert report.crisis_total >= 20
    assert report.crisis_found / report.crisis_total >= 0.9 and report.crisis_false <= 2


def test_heldout_intent_accuracy_floor(report):
    # Measured 94.5 % on the first batch, 97.2 % on the third at its first reading, 98.4 % on all
    # 671 now (docs/understanding.md); the floor leaves room for harder phrasings added later.
    assert report.accuracy >= 0.88
    for locale, (correct, total) in report.by_locale.items():
        assert correct / total >= 0.85, locale


# --- the CLI ---------------------------------------------------------------------------------------
def test_cli_check_and_eval_print_the_hash_counts_and_figures(understanding):
    from click.testing import CliRunner

    from bot.understanding.cli import make_group

    runner = CliRunner()
    group = make_group(lambda: CONTENT)
    checked = runner.invoke(group, ["check"])
    assert checked.exit_code == 0, checked.output
    assert "data hash " in checked.output and "[en]" in checked.output and "[es]" in checked.output
    assert "emergency " in checked.output and "model: " in checked.output
    evaluated = runner.invoke(group, ["eval"])
    assert evaluated.exit_code == 0, evaluated.output
    for needle in ("[en] accuracy", "[es] accuracy", "emergency recall (steps or the unsure line)",
                   "false alarms on non-emergency messages", "law vs emergency"):
        assert needle in evaluated.output
    missing = runner.invoke(group, ["eval", "--data", str(CONTENT)])
    assert missing.exit_code != 0 and "no understanding_heldout" in missing.output


def test_grouped_cross_validation_reads_every_message_out_of_fold():
    from bot.understanding.cv import cross_validate, format_cv, near_duplicate_groups

    groups = near_duplicate_groups(["hes not breathing", "hes not breathin", "where is narcan"])
    assert groups[0] == groups[1] != groups[2]  # a typo of a message is the same group
    report = cross_validate(CONTENT, DATA, folds=2)
    assert len(report.rows) > 4000 and report.groups < len(report.rows)
    text = format_cv(report)
    for needle in ("grouped 2-fold cross-validation", "en     emergency", "es     grief",
                   "calibration of the classifier", "rules: share"):
        assert needle in text


def test_the_understanding_commands_are_on_the_app(app):
    assert "understanding" in app.cli.commands


# Issue 23b: the classes of blind set C's misses (never C's words: tests/test_blind.py).
@pytest.mark.parametrize("text", [
    "my laptop wont wake up from sleep mode, do i need a new one",  # a thing as the subject
    "im literally dying 🤣🤣 my sister sang at the wedding",         # laughing emoji: a joke
    "mi terapeuta no me contesta desde el lunes, que hago",          # out of reach, not unconscious
])
def test_things_jokes_and_people_out_of_reach_never_get_the_full_steps(understanding, text):
    assert not understanding.read(text).emergency


def test_a_story_that_ended_well_is_the_past_and_one_that_did_not_is_now(understanding):
    ended = understanding.read("my cousin overdosed at a party on saturday, hes fine now thank god")
    assert not ended.emergency
    now = understanding.read("he was fine now hes not breathing")
    assert now.emergency


def test_a_real_emergency_with_a_crying_emoji_stays_one(understanding):
    assert understanding.read("my brother is not breathing 😭😭").emergency
