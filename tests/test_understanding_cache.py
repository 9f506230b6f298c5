"""Issue 23, item 6: a model cache no one else can plant.

The attacks, from outside: the cache was /tmp/helpline-understanding-<uid>, a guessable name
created without checking who owned it. A planted settings file set the emergency threshold to 0
("what is narcan" got CALL 911 NOW); a well-formed archive without the emergency class made every
gunicorn worker exit. Here each is planted for real, and the folder is made world-writable,
another user's, and a link: the helpline must start, answer as the current settings say, and
never use what it did not write itself.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from bot.understanding import meaning as meaning_module
from bot.understanding.cache import ModelCache, default_cache_dir
from bot.understanding.data import data_hash, load_examples
from bot.understanding.meaning import Understanding
from bot.understanding.model import Model, code_version

CONTENT = Path(__file__).resolve().parent.parent / "content"
CALM = "what is narcan"
EMERGENCY = "my friend is not breathing and his lips are blue"


@pytest.fixture(scope="module")
def key() -> str:
    """The key from_dir uses: the code, and the detector's signature (its negation typos, its
    laughing emoji), which change the texts the model is trained on."""
    from bot.understanding.signals import SignalDetector
    return data_hash(CONTENT, code_version() + SignalDetector.from_dir(CONTENT).signature())


@pytest.fixture(scope="module")
def settings() -> dict:
    return load_examples(CONTENT).settings


@pytest.fixture(scope="module")
def archive(tmp_path_factory, key) -> Path:
    """One honest archive, written by the helpline itself, copied into each test's folder."""
    folder = tmp_path_factory.mktemp("honest")
    meaning_module._MODELS.pop(key, None)
    assert Understanding.from_dir(CONTENT, cache_dir=folder).source == "trained"
    return ModelCache(folder).path(key)


@pytest.fixture()
def fresh(monkeypatch):
    """No model in this process: the next from_dir reads the disk or trains."""
    monkeypatch.setattr(meaning_module, "_MODELS", {})


def private(tmp_path: Path, name: str = "cache") -> Path:
    folder = tmp_path / name
    folder.mkdir(mode=0o700)
    return folder


def plant(folder: Path, archive: Path) -> Path:
    target = folder / archive.name
    shutil.copyfile(archive, target)
    return target


def forged(archive: Path, target: Path, *, drop: str | None = None, meta: dict | None = None):
    """A well-formed archive made from the honest one: a class dropped, or other metadata."""
    model = Model.load(archive)
    keep = [i for i, c in enumerate(model.classes) if c != drop]
    blocks = [(terms, model._idf[start:start + len(terms)]) for terms, start in
              zip(model.terms, (0, len(model.terms[0])))]
    bad = Model([model.classes[i] for i in keep], blocks, model.coef[keep],
                model.intercept[keep], model.beta)
    bad.save(target, meta=dict(model.meta, **(meta or {})))


def test_a_planted_settings_file_with_threshold_zero_is_never_read(
        tmp_path, archive, fresh, settings):
    folder = private(tmp_path)
    plant(folder, archive)
    (folder / archive.with_suffix(".settings").name).write_text(
        "C=1.0\nconfident=0.0\ncrisis_classifier=0.0\nemergency_classifier=0.0\n")

    found = Understanding.from_dir(CONTENT, cache_dir=folder)

    assert found.source == "disk" and found.settings == settings
    assert not found.read(CALM).emergency and found.read(EMERGENCY).emergency


def test_an_archive_that_says_it_was_trained_with_threshold_zero_is_refitted(
        tmp_path, archive, fresh, settings):
    folder = private(tmp_path)
    zero = json.dumps({**{k: float(v) for k, v in settings.items()},
                       "emergency_classifier": 0.0}, sort_keys=True)
    forged(archive, folder / archive.name, meta={"settings": zero})

    found = Understanding.from_dir(CONTENT, cache_dir=folder)

    assert found.source == "trained" and found.settings["emergency_classifier"] == settings["emergency_classifier"]
    assert not found.read(CALM).emergency
    assert Model.load(folder / archive.name).meta["settings"] != zero  # replaced by an honest one


def test_a_well_formed_archive_without_the_emergency_class_is_refitted_not_a_crash(
        tmp_path, archive, fresh):
    folder = private(tmp_path)
    forged(archive, folder / archive.name, drop="emergency")
    assert "emergency" not in Model.load(folder / archive.name).classes  # it loads as an archive

    found = Understanding.from_dir(CONTENT, cache_dir=folder)

    assert found.source == "trained" and found.read(EMERGENCY).emergency


@pytest.mark.parametrize("numbers", ["nan", "inf", "shape"])
def test_an_archive_with_broken_numbers_is_refitted(tmp_path, archive, fresh, numbers):
    folder = private(tmp_path)
    with np.load(archive, allow_pickle=False) as honest:
        arrays = {name: honest[name] for name in honest.files}
    if numbers == "shape":
        arrays["intercept"] = arrays["intercept"][:-1]
    else:
        arrays["coef"] = arrays["coef"].copy()
        arrays["coef"][0, 0] = float(numbers)
    with open(folder / archive.name, "wb") as handle:
        np.savez(handle, **arrays)

    assert Understanding.from_dir(CONTENT, cache_dir=folder).source == "trained"


def open_to_all(tmp_path: Path) -> Path:
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o777)
    return folder


def someone_elses(tmp_path: Path) -> Path:
    if os.getuid() != 0:
        pytest.skip("only root can give a folder to another user")
    folder = private(tmp_path)
    os.chown(folder, 12345, 12345)
    return folder


def a_link(tmp_path: Path) -> Path:
    target = private(tmp_path, "elsewhere")
    (tmp_path / "cache").symlink_to(target, target_is_directory=True)
    return tmp_path / "cache"


@pytest.mark.parametrize("make", [open_to_all, someone_elses, a_link])
def test_a_folder_others_could_write_is_neither_read_nor_written(
        tmp_path, archive, fresh, caplog, make):
    folder = make(tmp_path)
    planted = plant(folder, archive)  # an honest archive even: it is not ours to trust
    before = sorted(p.name for p in folder.iterdir())

    found = Understanding.from_dir(CONTENT, cache_dir=folder)

    assert found.source == "trained" and found.read(EMERGENCY).emergency
    assert "refused" in caplog.text
    assert sorted(p.name for p in folder.iterdir()) == before and planted.exists()


def test_the_default_folder_is_made_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = default_cache_dir()
    assert folder == tmp_path / "xdg" / "helpline-understanding"

    assert ModelCache(folder).refused is None
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
