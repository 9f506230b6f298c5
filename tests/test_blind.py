"""The blind sets as a gate (issue 23, "Done when"): messages written by people who never saw the
training data or the rules, read through the real engine (SMS, and the phone line for voice
transcripts) exactly as `flask --app wsgi understanding eval --blind FILE` reads them.

tests/data/blind/ holds them frozen with their sha256; this file also checks that no training
example is a blind message or a close paraphrase of one (they measure, they never teach).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from rapidfuzz import fuzz, process

from bot.conversation import blind
from bot.understanding import data
from bot.understanding.model import prepare
from bot.voice.phone_tree import voice_engine

ROOT = Path(__file__).resolve().parent.parent
BLIND = ROOT / "tests" / "data" / "blind"
SETS = ("A.yaml", "B.yaml", "C.yaml", "D.yaml")
# C was read once blind (C.first-reading.txt), then its misses' classes were fixed (issue 23b): it
# is no longer blind. It gates the safety-critical goals (every emergency gets the steps or the
# unsure line, no "Good." to a not-breathing update, crisis) and, like every set, no training
# example may be close to it; the rates (calm, everyday, grief) are gated on A and B, and C's are
# reported as measured in docs/understanding.md. D, written after C was read and held back until
# those fixes landed, measured them at its first reading (D.first-reading.txt) and met every goal:
# it gates everything, as A and B do.
RATE_SETS = ("A.yaml", "B.yaml", "D.yaml")
NEAR = 85   # rapidfuzz ratio on the prepared texts: at or above, a close paraphrase


@pytest.fixture(scope="module")
def readings(redis_url):
    """Both sets through one app's engines (module scope: the engine is pure, no Redis writes)."""
    from bot import create_app
    from tests.conftest import make_settings

    helpline = create_app(make_settings(redis_url)).config["HELPLINE"]

    def render(outcome, channel):
        return "\n\n".join(helpline.content.render(r.key, outcome.state.locale, channel, r.params)
                           for r in outcome.replies)
    voice = voice_engine(helpline.engine)
    return {name: blind.run(blind.load_cases(BLIND / name), helpline.engine, render, voice)
            for name in SETS}


def of(readings, sets=SETS):
    return [r for name in sets for r in readings[name]]


def tally(readings, counts, ok, sets=SETS):
    chosen = [r for r in of(readings, sets) if counts(r)]
    return [r for r in chosen if not ok(r)], len(chosen)


def show(misses):
    return [f"{r.case.kind}/{r.case.form}/{r.case.lang} -> {r.answer} {r.node}: {r.case.text[:90]}"
            for r in misses]


def test_the_frozen_sets_are_unchanged():
    sums = dict(line.split()[::-1] for line in (BLIND / "SHA256SUMS").read_text().splitlines())
    for name in SETS:
        assert hashlib.sha256((BLIND / name).read_bytes()).hexdigest() == sums[name], name


def test_every_emergency_gets_the_steps_or_the_unsure_line(readings):
    misses, n = tally(readings, lambda r: r.case.kind == "emergency",
                      lambda r: r.answer in ("steps", "unsure"))
    assert n >= 135 and not misses, show(misses)


def test_calm_messages_get_the_full_steps_at_most_3_percent(readings):
    misses, n = tally(readings, lambda r: r.case.kind in blind.CALM, lambda r: r.answer != "steps",
                      RATE_SETS)
    assert n >= 200 and len(misses) <= 0.03 * n, show(misses)


def test_everyday_messages_never_get_the_full_steps(readings):
    misses, n = tally(readings, lambda r: r.case.kind == "everyday", lambda r: r.answer != "steps",
                      RATE_SETS)
    assert n >= 90 and not misses, show(misses)


def test_grief_gets_the_grief_screen_at_least_9_in_10(readings):
    misses, n = tally(readings, lambda r: r.case.kind == "grief", lambda r: r.node == "grief",
                      RATE_SETS)
    assert n >= 60 and len(misses) <= 0.1 * n, show(misses)


def test_no_not_breathing_update_is_ever_told_good(readings):
    misses, n = tally(readings, lambda r: r.case.kind == "update"
                      and r.case.expect == "update_not_breathing", lambda r: not r.good)
    assert n >= 30 and not misses, show(misses)


def test_crisis_gets_the_crisis_screen(readings):
    misses, n = tally(readings, lambda r: r.case.kind == "crisis",
                      lambda r: r.node == "crisis" or r.answer == "steps")
    assert n >= 30 and len(misses) <= 1, show(misses)


def test_no_training_example_is_a_blind_message_or_a_close_paraphrase():
    """Training examples written before the blind sets existed that happen to say the same short
    thing ("what is narcan", "help") are listed in coincidences.txt; anything new fails here."""
    known = set((BLIND / "coincidences.txt").read_text(encoding="utf-8").splitlines())
    texts = [prepare(c.text) for name in SETS for c in blind.load_cases(BLIND / name)]
    rows = data.load_examples(ROOT / "content").rows
    close = []
    for text, _, _ in rows:
        norm = prepare(text)
        if norm in known:
            continue
        hit = process.extractOne(norm, texts, scorer=fuzz.ratio, score_cutoff=NEAR)
        if hit:
            close.append((text, hit[0]))
    assert not close, close


def test_the_blind_file_format_is_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump([{"text": "hi", "kind": "nonsense"}]))
    with pytest.raises(ValueError, match="entry 0"):
        blind.load_cases(bad)


def test_the_cli_reads_a_blind_file_through_the_engine(app, tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump([
        {"text": "she is not breathing", "lang": "en", "kind": "emergency", "form": "plain",
         "expect": "emergency"},
        {"text": "my grandma died of an overdose in 2019", "lang": "en", "kind": "grief",
         "form": "plain", "expect": "grief"},
        {"text": "he was breathing and then he stopped", "lang": "en", "kind": "update",
         "form": "plain", "expect": "update_not_breathing"}]))
    result = app.test_cli_runner().invoke(args=["understanding", "eval", "--blind", str(path)])
    assert result.exit_code == 0, result.output
    for needle in ("emergency recall (steps or unsure): 1/1", "grief given the grief screen: 1/1",
                   "update not breathing given 'Good.': 0/1", "calm given the full steps: 0/1"):
        assert needle in result.output
