"""The inbound rate limit: a number that floods the helpline gets one "slow down", then silence.

The count lives in Redis, so every web process shares it, and it is read in the same round trip
as the conversation (bot/storage/store.py, Store.advance): the normal path pays nothing extra. Windows
are clock minutes. Whatever the count, a message that signals an emergency or a crisis is
answered, and STOP (or any opt-out word) is honoured.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.conversation.engine import Outcome, Reply, State

SLOW_DOWN = "limit.slow_down"
WINDOW_SECONDS = 60
ANSWER, WARN, SILENT = "answer", "warn", "silent"


def window(now: datetime) -> int:
    """The clock minute a message belongs to: its count starts again when the minute ends."""
    return int(now.timestamp() // WINDOW_SECONDS)


@dataclass(frozen=True)
class InboundLimit:
    """RATE_LIMIT_PER_MINUTE messages a minute per number; 0 turns the limit off."""

    per_minute: int

    @property
    def active(self) -> bool:
        return self.per_minute > 0

    def verdict(self, count: int, outcome: Outcome) -> str:
        """Answer, warn once (the first message over the limit), or stay silent."""
        if not self.active or count <= self.per_minute:
            return ANSWER
        if outcome.signal or any(e.name == "opt_out" for e in outcome.events):
            return ANSWER  # an overdose, a crisis or a STOP never waits for the window
        return WARN if count == self.per_minute + 1 else SILENT

    @staticmethod
    def held(before: State, verdict: str) -> Outcome:
        """The message is not read: the conversation stays where it was."""
        return Outcome(before, (Reply(SLOW_DOWN),) if verdict == WARN else ())
