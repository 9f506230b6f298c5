"""Hand-written readings of a message, so routing is tested on meanings, not on a model's scores."""
from __future__ import annotations

from bot.understanding.meaning import Meaning as _Meaning


def Meaning(emergency: bool = False, crisis: bool = False, intents: tuple = (),  # noqa: N802
            confident: bool = False, place: str | None = None) -> _Meaning:
    return _Meaning(emergency, crisis, intents, confident, place)
