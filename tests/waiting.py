"""Waiting for another process to get somewhere. The limit is a hang guard, never a speed check:
it is generous so a slow, shared machine passes and only a broken build (a hang) fails."""
from __future__ import annotations

import time
from typing import Callable

HANG_GUARD = 120.0


def wait_until(condition: Callable[[], bool], what: str, limit: float = HANG_GUARD) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"still waiting for {what} after {limit:.0f} s: is it hung?")
        time.sleep(0.02)
