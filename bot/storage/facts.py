"""Host facts: what a feature (check-ins, reminders, the inbox, FORGET) adds to the engine's
Context, read in the conversation step's own round trip. Here, below the channels, so that the
features and the channels can all name it without importing each other."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import redis


@dataclass(frozen=True)
class Facts:
    """Host facts for the engine's Context (e.g. a check-in plan), read in the step's own round
    trip: `reads(subject)` names them as (command, key) pairs (store.READS), `parse(subject,
    results)` turns what they returned, in order, into Context fields."""

    reads: Callable[[str], Sequence[tuple[str, str]]]
    parse: Callable[[str, list], dict]

    def read(self, client: redis.Redis, subject: str) -> dict:
        """The same facts on their own, outside a step (one round trip)."""
        pipe = client.pipeline(transaction=False)
        for command, key in self.reads(subject):
            pipe.execute_command(command, key)
        return self.parse(subject, pipe.execute())
