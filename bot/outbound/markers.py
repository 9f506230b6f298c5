"""Send markers for one-off texts (the phone line's "text me this"): the ONLY module that knows
their key names (hl:ob:...).

bot/outbound/delivery.py sends each text through a marker (pending, then sent:<sid>) so that a
retry after a Twilio timeout looks at Twilio before it sends again. Check-ins keep their markers
with the subscription (bot/checkins/subscriptions.py), reminders with the reminder
(bot/reminders/ledger.py); a one-off text has only its job, so its marker is keyed by the person's keyed
hash and the job's id, which names the call and the screen through Vault.token. The claim is refused once
the person has opted out, so a STOP sent while the text waited for the send rate wins, and every
claim and write once they were erased (bot/storage/tombstone.py), so a FORGET wins too.
"""
from __future__ import annotations

import redis

from bot.storage.keys import gone_key, optout_key, outbound_marker_key as marker_key
from bot.storage.tombstone import Tombstones, guarded

MARKER_TTL = 7 * 86400  # outlives every retry of the job (RQ's failure_ttl for these jobs)

# Compare-and-set the marker; -1 when the person opted out since the job was queued, or was
# erased (FORGET's tombstone, the last key; the job's epoch, the last argument).
_CLAIM = guarded("""
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local cur = redis.call('GET', KEYS[1])
if not ((cur == false and ARGV[1] == '') or cur == ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1""")
# Delete a marker only if it still holds this attempt's value (shared with reminders/ledger.py).
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0"""


class Markers:
    """The pending/sent markers delivery.deliver() reads and writes, for texts named by a slot."""

    def __init__(self, client: redis.Redis):
        self.redis = client
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(RELEASE)
        self._tombstones = Tombstones(client)

    def marker(self, subject: str, slot: str) -> str | None:
        raw = self.redis.get(marker_key(subject, slot))
        return raw.decode() if isinstance(raw, bytes) else raw

    def claim(self, subject: str, slot: str, value: str, previous: str | None,
              owner: str | None = None, epoch: str = "") -> int:
        keys = [marker_key(subject, slot), optout_key(subject), gone_key(subject)]
        return int(self._claim(keys=keys, args=[previous or "", value, MARKER_TTL, epoch]))

    def release(self, subject: str, slot: str, value: str) -> None:
        self._release(keys=[marker_key(subject, slot)], args=[value])

    def sent(self, subject: str, slot: str, sid: str, epoch: str = "") -> None:
        self._tombstones.set(subject, epoch, marker_key(subject, slot), f"sent:{sid}", MARKER_TTL)

    def forget(self, subject: str) -> int:
        """FORGET: erase this person's markers (registered by bot/channels/voice.py)."""
        keys = list(self.redis.scan_iter(match=marker_key(subject, "*"), count=500))
        return int(self.redis.delete(*keys)) if keys else 0
