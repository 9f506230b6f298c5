"""Emergency and crisis detection (bot/understanding/signals.py) against the message corpus in tests/data.

Pure tests: no Redis, no app. Every corpus entry is its own case, named after the message, so a
failure reads as the message that was missed.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from bot.understanding.signals import MAX_CHARS, Signal, SignalDetector, normalize

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
DATA = Path(__file__).resolve().parent / "data"
CORPUS = yaml.safe_load((DATA / "emergency_corpus.yaml").read_text(encoding="utf-8"))
HELDOUT_PATH = DATA / "emergency_heldout.yaml"
HELDOUT = (yaml.safe_load(HELDOUT_PATH.read_text(encoding="utf-8"))
           if HELDOUT_PATH.exists() else {})


@pytest.fixture(scope="module")
def detector() -> SignalDetector:
    return SignalDetector.from_dir(CONTENT)


def cases(*lists: str, source: dict = CORPUS) -> list:
    """pytest params with readable ids: the list name and the message itself."""
    out = []
    for name in lists:
        for text in source.get(name) or []:
            text = str(text)
            ident = re.sub(r"\s+", "_", text.strip())[:60] or "blank"
            out.append(pytest.param(text, id=f"{name}:{ident}"))
    return out


def test_corpus_sizes():
    sizes = {name: len(items or []) for name, items in CORPUS.items()}
    assert sizes["english_emergency"] >= 80
    assert sizes["spanish_emergency"] >= 45
    assert sizes["crisis_en"] >= 20
    assert sizes["crisis_es"] >= 10
    assert sizes["not_emergency_en"] + sizes["not_emergency_es"] >= 40


@pytest.mark.parametrize("text", cases("english_emergency", "spanish_emergency",
                                       "mixed_crisis_emergency"))
def test_emergency(detector, text):
    signal = detector.detect(text)
    assert signal is not None and signal.kind == "emergency", signal


@pytest.mark.parametrize("text", cases("crisis_en", "crisis_es"))
def test_crisis_is_not_called_an_overdose(detector, text):
    signal = detector.detect(text)
    assert signal is not None and signal.kind == "crisis", signal


@pytest.mark.parametrize("text", cases("not_emergency_en", "not_emergency_es"))
def test_ordinary_messages_do_not_alarm(detector, text):
    assert detector.detect(text) is None


@pytest.mark.parametrize("text", cases("emergency_en", "emergency_es", source=HELDOUT))
def test_heldout_emergency(detector, text):
    signal = detector.detect(text)
    assert signal is not None and signal.kind == "emergency", signal


@pytest.mark.parametrize("text", cases("crisis", source=HELDOUT))
def test_heldout_crisis(detector, text):
    signal = detector.detect(text)
    assert signal is not None and signal.kind in ("crisis", "emergency"), signal


@pytest.mark.parametrize("text", cases("not_emergency", source=HELDOUT))
def test_heldout_not_emergency(detector, text):
    assert detector.detect(text) is None


@pytest.mark.parametrize("text, locale", [
    ("he is not breathing", "en"), ("no respira", "es"), ("llama al 911 ya", "es"),
    ("call 911 now", "en"), ("me quiero morir", "es"), ("i want to die", "en"),
])
def test_locale_hint(detector, text, locale):
    assert detector.detect(text).locale == locale


def test_signal_is_a_frozen_value(detector):
    signal = detector.detect("he is not breathing")
    assert signal == Signal("emergency", "en", "not_breathing")
    with pytest.raises(AttributeError):
        signal.kind = "crisis"


@pytest.mark.parametrize("raw, expected", [
    ("Está RESPIRANDO", "esta respirando"),
    ("isn't", "isnt"), ("isn\u2019t", "isnt"), ("\u201cquoted\u201d", "quoted"),
    ("breathinggg", "breathingg"), ("noooo", "noo"), ("sleeeeping", "sleeping"),
    ("O.D.", "od"), ("he o.d.'d", "he odd"), ("9-1-1", "9 1 1"),
    ("  lots\tof\n\nspace  ", "lots of space"), ("ñandú DAÑO", "nandu dano"),
    ("hi 😭😭 help!!!", "hi help"), ("", ""), ("\x00\x07\x1b", ""),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("text", [
    "", " ", "\n\t", "\x00\x01\x02\x7f", "😭😭😭", "🚑", "你好，他不呼吸了", "привет",
    "\ud800", "a" * 100_000, "é" * 5000, "\u0301" * 50, "1234567890" * 500,
    "".join(chr(i) for i in range(0, 0x3000, 7)),
])
def test_odd_input_does_not_raise(detector, text):
    result = detector.detect(text)
    assert result is None or isinstance(result, Signal)


def test_none_and_non_text(detector):
    assert detector.detect(None) is None
    assert detector.detect(b"not breathing") is None


def test_huge_message_is_cut(detector):
    assert detector.detect("he is not breathing " + "x " * 5000).kind == "emergency"
    buried = "ok " * MAX_CHARS + "he is not breathing"
    assert detector.detect(buried) is None  # past the first 1,600 characters


def test_emergency_wins_over_crisis(detector):
    assert detector.detect("i want to die, he is not breathing").kind == "emergency"


def test_new_locale_folder_is_picked_up(tmp_path):
    shutil.copytree(CONTENT / "en", tmp_path / "en", ignore=shutil.ignore_patterns("*.j2"))
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "keywords.yaml").write_text(
        "emergency:\n"
        "  words:\n"
        "    NEG: [ne, pas, plus]\n"
        "    BREATH: [respire, respirer]\n"
        "  rules:\n"
        "    ne_respire_pas: '{NEG} ~2 {BREATH}'\n"
        "  vocabulary: [respire]\n"
        "crisis:\n"
        "  rules:\n"
        "    suicide: '\\bsuicid\\w*'\n", encoding="utf-8")
    detector = SignalDetector.from_dir(tmp_path)
    assert set(detector.locales) == {"en", "fr"}
    assert detector.detect("il ne réspire pas") == Signal("emergency", "fr", "ne_respire_pas")
    assert detector.detect("il ne respiire pas").kind == "emergency"
    assert detector.detect("he is not breathing").locale == "en"


def test_locale_without_rules_and_folder_without_keywords_are_fine(tmp_path):
    shutil.copytree(CONTENT / "en", tmp_path / "en")
    (tmp_path / "mn").mkdir()                       # region data, no keywords.yaml
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "keywords.yaml").write_text("commands: {}\n", encoding="utf-8")
    detector = SignalDetector.from_dir(tmp_path)
    assert set(detector.locales) == {"en", "de"}
    assert detector.detect("not breathing").locale == "en"


def test_no_emergency_rules_is_an_error(tmp_path):
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "keywords.yaml").write_text("crisis: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no emergency rules"):
        SignalDetector.from_dir(tmp_path)


@pytest.mark.parametrize("rules, message", [
    ("x: '{NOPE}'", "unknown word list"),
    ("x: '(unclosed'", "bad pattern"),
])
def test_bad_rules_name_file_and_rule(tmp_path, rules, message):
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "keywords.yaml").write_text(f"emergency:\n  rules:\n    {rules}\n",
                                                    encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        SignalDetector.from_dir(tmp_path)
    assert "keywords.yaml" in str(info.value) and "emergency.rules.x" in str(info.value)


def test_yaml_no_is_a_word_not_false(detector):
    """YAML 1.1 would read `no` as False; "no respira" must still work."""
    assert detector.detect("no respira").kind == "emergency"
    assert detector.detect("false respira") is None
