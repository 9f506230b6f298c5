"""The intent classifier (bot/understanding/model.py) and its data (bot/understanding/data.py):
deterministic training, the numpy fast path equal to scikit-learn, the archive round trip, and
the rules of the example files (every intent in every language, the held-out set kept apart).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.understanding import data
from bot.understanding.evaluate import heldout_rows
from bot.understanding.model import Model, prepare

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def examples() -> data.Examples:
    return data.load_examples(CONTENT)


@pytest.fixture(scope="module")
def fitted(examples):
    texts = [prepare(text) for text, _, _ in examples.rows]
    labels = [intent for _, intent, _ in examples.rows]
    return Model.train(texts, labels, examples.settings["C"]), (texts, labels)


@pytest.fixture(scope="module")
def heldout_texts() -> list[str]:
    return [prepare(text) for text, _, _ in heldout_rows(DATA)]


def test_two_trainings_give_identical_models_and_scores(fitted, examples, heldout_texts):
    (model, _), (texts, labels) = fitted
    again, _ = Model.train(texts, labels, examples.settings["C"])
    assert again.classes == model.classes and again.terms == model.terms
    assert np.array_equal(again.coef, model.coef) and again.beta == model.beta
    for text in heldout_texts[:80]:
        assert np.array_equal(again.scores(text), model.scores(text))


def test_fast_path_equals_scikit_learn_on_the_whole_heldout_set(fitted, heldout_texts):
    (model, pipeline), _ = fitted
    odd = ["", "zzzz", "a", "911", "narcan narcan narcan narcan", "٥٥٨١١"]
    texts = heldout_texts + [prepare(t) for t in odd]
    expected = pipeline.predict_proba(texts)
    assert list(pipeline.classes_) == list(model.classes)
    fast = np.vstack([model.scores(text) for text in texts])
    assert np.allclose(fast, expected, rtol=0, atol=1e-9), np.abs(fast - expected).max()
    assert (fast.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_the_archive_round_trip_keeps_every_score(fitted, tmp_path, heldout_texts):
    (model, _), _ = fitted
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = Model.load(path)
    assert loaded.classes == model.classes and loaded.beta == model.beta
    for text in heldout_texts:
        assert np.array_equal(loaded.scores(text), model.scores(text))


@pytest.mark.parametrize("payload", [b"", b"garbage", b"PK\x03\x04broken zip"])
def test_a_broken_archive_raises_instead_of_loading(tmp_path, payload):
    path = tmp_path / "m.npz"
    path.write_bytes(payload)
    with pytest.raises(Exception):
        Model.load(path)


# --- the data files --------------------------------------------------------------------------------
def test_every_intent_has_examples_in_every_language(examples):
    counts = examples.counts()
    assert set(counts) >= {"en", "es"}
    for locale in ("en", "es"):
        per = counts[locale]
        assert sum(per.values()) >= 500, locale
        for intent in data.INTENTS:
            assert per.get(intent, 0) >= 15, (locale, intent)
        for intent in ("emergency", "naloxone_where", "legal"):
            assert per[intent] >= 30, (locale, intent)


def test_no_heldout_message_is_in_training(examples):
    training = {prepare(text) for text, _, _ in examples.rows}
    leaked = [text for text, _, _ in heldout_rows(DATA) if prepare(text) in training]
    assert not leaked


def test_heldout_sets_cover_every_intent_in_both_languages():
    rows = heldout_rows(DATA)
    for locale in ("en", "es"):
        assert {intent for _, intent, loc in rows if loc == locale} == set(data.INTENTS), locale


def test_an_unknown_intent_is_refused_with_the_file_named(tmp_path):
    folder = tmp_path / "en" / "understanding"
    folder.mkdir(parents=True)
    (folder / "x.yaml").write_text(yaml.safe_dump({"emergancy": ["help"]}))
    with pytest.raises(data.ExamplesError, match=r"x\.yaml.*emergancy"):
        data.load_examples(tmp_path)


def test_the_data_hash_follows_the_bytes(tmp_path):
    folder = tmp_path / "en" / "understanding"
    folder.mkdir(parents=True)
    (folder / "a.yaml").write_text("greeting: [hi]\n")
    first = data.data_hash(tmp_path)
    assert data.data_hash(tmp_path) == first
    (folder / "a.yaml").write_text("greeting: [hi, hello]\n")
    assert data.data_hash(tmp_path) != first
