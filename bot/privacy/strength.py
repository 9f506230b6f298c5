"""Is this password or secret hard enough to guess? zxcvbn's estimate (its word lists ship inside
the package: no network, no files of ours) on top of a minimum length.

Used for staff passwords (bot/console/accounts.py) and, in production, for HELPLINE_SECRET,
ADMIN_PASSWORD and METRICS_TOKEN (bot/config.py). Each check returns the problem in words, or
None when the value is strong enough.
"""
from __future__ import annotations

from zxcvbn import zxcvbn

MAX_CHECKED = 72  # zxcvbn's own limit (its matching grows fast with length); the rest is extra
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0-4: 3 is "safely unguessable", about 10^8 guesses or more


def _estimate(value: str, user_inputs: tuple[str, ...] = ()) -> dict:
    return zxcvbn(value[:MAX_CHECKED], user_inputs=[u for u in user_inputs if u])


def _why(result: dict) -> str:
    feedback = result.get("feedback") or {}
    return (feedback.get("warning") or "it is too easy to guess").rstrip(".")


def password_problem(password: str, min_length: int,
                     user_inputs: tuple[str, ...] = ()) -> str | None:
    """A staff password: at least min_length characters and zxcvbn score 3 or more."""
    if len(password or "") < min_length:
        return f"passwords need at least {min_length} characters"
    result = _estimate(password, user_inputs)
    if result["score"] < MIN_PASSWORD_SCORE:
        return f"that password is too easy to guess ({_why(result)}); use a few unrelated words"
    return None


def secret_problem(secret: str, min_length: int, min_guesses_log10: float) -> str | None:
    """A machine secret: at least min_length characters and about 10^min_guesses_log10 guesses."""
    if len(secret or "") < min_length:
        return f"it needs at least {min_length} characters"
    result = _estimate(secret)
    if len(set(secret)) < 10 or result["guesses_log10"] < min_guesses_log10:
        return f"it is too easy to guess ({_why(result)})"
    return None
