"""Waiting for another process to get somewhere.

No test measures time: a wait polls until the condition holds. The bound is a hang guard, not a
speed check: far above what any wait takes on a loaded 2-core machine, it fails a broken build
in two minutes with the name of what never happened, instead of pytest-timeout's ten (pytest.ini).
"""
from __future__ import annotations

import time
from typing import Callable

HANG = 120.0  # seconds: a wait this long is stuck, not slow


def wait_until(condition: Callable[[], bool], what: str, bound: float = HANG) -> None:
    """Poll `condition` until it holds; after `bound` seconds fail, naming `what` never came."""
    give_up = time.monotonic() + bound
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"still waiting after {bound:.0f} s for: {what}")
        time.sleep(0.02)
