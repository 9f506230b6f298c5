"""The fitted model's disk cache: a private folder, and an archive trusted only once checked.

Why: the cache was `/tmp/helpline-understanding-<uid>`, a name anyone could guess, created
without a look at who owned it. Another user could plant a settings file there that set the
classifier's emergency threshold to 0 ("what is narcan" got CALL 911 NOW), or a well-formed
archive without the emergency class, and every gunicorn worker exited at start.

Now:
- The folder is private: created with mode 0700 under $XDG_CACHE_HOME or ~/.cache (the temp
  folder only when there is no home), and used only if it is a real folder (not a link) owned by
  this user that nobody else may read or write. Anything else is refused and logged: the model
  is then trained in memory (about 2 s a process), never read from or written there. Each
  archive must be a regular file owned by this user too.
- The thresholds never come from the cache: the caller passes the current settings (the
  settings.yaml files), and an archive is used only if it says it was fitted from these examples
  (the data hash) with these settings, holds exactly the intents of bot/understanding/data.py
  (emergency and crisis among them), and every shape and number checks out (Model.load).
  Anything wrong means a fresh fit, never a crash and never a foreign threshold.
"""
from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from pathlib import Path

from bot.understanding.data import INTENTS
from bot.understanding.model import Model

log = logging.getLogger(__name__)
FOLDER = "helpline-understanding"


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME or ~/.cache (private to the user), else the temp folder, per user."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / FOLDER
    home = Path.home() if "HOME" in os.environ else None
    if home is not None and home.is_dir():
        return home / ".cache" / FOLDER
    return Path(tempfile.gettempdir()) / f"{FOLDER}-{os.getuid()}"


def private_dir(path: Path) -> str | None:
    """None when `path` is (or has just been made) a folder only this user can use; else why not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass
        found = path.lstat()
    except OSError as exc:
        return f"cannot be made ({type(exc).__name__})"
    if stat.S_ISLNK(found.st_mode) or not stat.S_ISDIR(found.st_mode):
        return "is not a folder (a link or a file)"
    if found.st_uid != os.getuid():
        return f"belongs to another user (uid {found.st_uid})"
    if found.st_mode & 0o077:
        return f"is open to other users (mode {stat.S_IMODE(found.st_mode):o}, not 700)"
    return None


def _own_file(path: Path) -> bool:
    found = path.lstat()
    return stat.S_ISREG(found.st_mode) and found.st_uid == os.getuid()


class ModelCache:
    """Fitted models on disk, by the data hash; a refused folder is neither read nor written."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.refused = private_dir(self.directory)
        if self.refused:
            log.warning("understanding cache %s refused: it %s; the model is trained in memory",
                        self.directory, self.refused)

    def path(self, key: str) -> Path:
        return self.directory / f"model-{key[:32]}.npz"

    def load(self, key: str, settings: dict) -> Model | None:
        """The archive for `key`, if there is one and it is exactly what training would give."""
        path = self.path(key)
        if self.refused or not path.exists():
            return None
        try:
            if not _own_file(path):
                raise ValueError("not a regular file of this user")
            model = Model.load(path)
            problem = _mismatch(model, key, settings)
        except Exception as exc:  # noqa: BLE001 - corrupt, truncated, foreign: retrain
            problem = f"unreadable ({type(exc).__name__}: {exc})"
        if problem:
            log.warning("understanding cache %s not used: %s; retraining", path.name, problem)
            return None
        return model

    def save(self, key: str, settings: dict, model: Model) -> None:
        """Keep a fitted model with what it was fitted from; a disk problem only costs a refit."""
        if self.refused:
            return
        try:
            model.save(self.path(key), meta={"key": key, "settings": _settings_text(settings)})
        except OSError as exc:
            log.warning("understanding cache not written (%s)", exc)


def _settings_text(settings: dict) -> str:
    return json.dumps({k: float(v) for k, v in settings.items()}, sort_keys=True)


def _mismatch(model: Model, key: str, settings: dict) -> str | None:
    """Why an archive is not the model these examples and settings give, or None."""
    if model.meta.get("key") != key:
        return "fitted from other examples or code"
    if model.meta.get("settings") != _settings_text(settings):
        return "fitted with other settings"
    if set(model.classes) != set(INTENTS):
        missing = sorted(set(INTENTS) - set(model.classes))
        return f"intents differ (missing {missing[:5]})" if missing else "intents differ"
    return None
