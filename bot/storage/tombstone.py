"""FORGET's tombstone: `hl:gone:<keyed hash>` holds the erasure's id for GONE_TTL.

Why: deleting a person's keys is not enough while work planned before the erasure is still
under way. A "text me this" job asleep on the send rate, a check-in waiting at Twilio or a
reminder being moved wakes up after the erase and writes its send marker, the conversation
and RQ's record of itself back, and sends. So FORGET lays the tombstone before it deletes
anything, and every job-side claim and write for a person checks it first, in the same Lua
script as the write (no check-then-write race): work carries the tombstone it saw when it was
planned (its "epoch", "" when there was none) and is refused once the person has been erased
since (a tombstone that is not its own). Work the person asks for after the erasure carries
the new tombstone and runs as usual. The tombstone holds a keyed hash and an id, never a number.
"""
from __future__ import annotations

import redis

from bot.storage.keys import gone_key

# Longer than any work planned before an erasure can wait: a reminder booked up to 7 days
# ahead (its record lives 9), moved out of quiet hours and retried; send markers (8 days);
# RQ's retries and failed jobs (7 days).
GONE_TTL = 10 * 86400

# Prepended to a script whose LAST key is gone_key(subject) and whose LAST argument is the
# work's epoch: -1, and nothing written, when the person was erased after it was planned.
GUARD = """local gone = redis.call('GET', KEYS[#KEYS])
if gone and gone ~= ARGV[#ARGV] then return -1 end
"""
# SET one key (KEYS[1]) to ARGV[1] for ARGV[2] seconds, unless refused.
GUARDED_SET = GUARD + "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1"
# The erasure's id from the server's clock (seconds.microseconds): never "", new each time.
_LAY = """local t = redis.call('TIME')
local id = t[1] .. '.' .. t[2]
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return id"""


def guarded(script: str) -> str:
    """A script that first refuses (-1) work planned before the person's erasure."""
    return GUARD + script


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


class Tombstones:
    """Lays and reads tombstones; guarded writes for code that has no script of its own."""

    def __init__(self, client: redis.Redis):
        self.redis = client
        self._lay = client.register_script(_LAY)
        self._set = client.register_script(GUARDED_SET)

    def lay(self, subject: str) -> str:
        """FORGET, before it deletes anything: from now on older work is refused."""
        return _text(self._lay(keys=[gone_key(subject)], args=[GONE_TTL]))

    def epoch(self, subject: str) -> str:
        """The tombstone work planned now carries ("" when the person was never erased)."""
        return _text(self.redis.get(gone_key(subject)))

    def erased(self, subject: str, epoch: str) -> bool:
        """The person was erased after work carrying `epoch` was planned."""
        gone = self.epoch(subject)
        return bool(gone) and gone != epoch

    def set(self, subject: str, epoch: str, key: str, value, ttl: int) -> bool:
        """SET key value EX ttl, unless the person was erased since `epoch`."""
        return int(self._set(keys=[key, gone_key(subject)], args=[value, ttl, epoch])) == 1


def forget_job(job) -> None:
    """The running job must leave no record: RQ deletes it as it returns (result_ttl 0) instead
    of writing it back, payload included, after the erase. FORGET deleted the job's hash while
    it ran, and RQ reads the status back to delete it: the status alone is put back for that."""
    if job is not None:
        job.result_ttl = 0
        job.connection.hset(job.key, "status", "started")
