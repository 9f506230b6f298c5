"""Waiting for another process to get somewhere.

No test measures time: a wait polls until the condition holds. A broken build that would wait
forever is stopped by pytest-timeout (pytest.ini), which fails the hung test with its stack.
"""
from __future__ import annotations

import time
from typing import Callable


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; `what` names the wait in a hung test's stack dump."""
    while not condition():
        time.sleep(0.02)
