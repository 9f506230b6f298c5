"""Old dotted module names that RQ jobs queued by an earlier release still carry.

RQ stores a job's function as a dotted path ("bot.jobs.send_checkins") and imports it when the
job runs. The modules moved into packages (bot.checkins.jobs, ...), so a deployment upgraded with
jobs still queued or scheduled would fail them with ImportError. This finder resolves each old
name to its new module, lazily: nothing is imported until a job asks for it.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "bot.jobs": "bot.checkins.jobs",
    "bot.reminder_jobs": "bot.reminders.jobs",
    "bot.voice_jobs": "bot.voice.jobs",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        sys.modules[module.__spec__.name] = module  # the new module under its old name too


class MovedModules(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(MOVED[fullname]))


def install() -> None:
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        sys.meta_path.append(MovedModules())
