"""The RQ job behind "press 8 to get this by text": runs in the worker, never in the web process.

The payload holds the caller's number only encrypted (Vault.encrypt); the job decrypts it,
skips anyone who texted STOP or was erased since the call (FORGET's tombstone), sends through bot/outbound/delivery.py's exactly-once protocol
(a marker per job, bot/outbound/markers.py: after a Twilio timeout or 5xx the retry asks
Twilio for the text before it sends again), and leaves the caller's text conversation on the
same screen, so the "Reply 1 ..." in the text works.
"""
from __future__ import annotations

import logging

import redis
from rq import get_current_job

from bot.config import load_settings
from bot.outbound.delivery import DONE, RETRY, SENT, SKIPPED, Attempt, deliver, digest
from bot.outbound.markers import Markers
from bot.outbound.sender import build_sender
from bot.privacy.vault import Vault, mask_number
from bot.storage.ratelimit import TokenBucket
from bot.storage.keys import OUTBOUND_RATE_KEY
from bot.storage.store import Store
from bot.storage.tombstone import Tombstones, forget_job

log = logging.getLogger(__name__)


class SendFailed(RuntimeError):
    """Twilio may take the text on a later try (rate limit, 5xx, network): RQ retries the job."""


def send_screen_text(sealed_number: str, node: str, locale: str, body: str,
                     epoch: str = "") -> dict:
    """Text one screen to a caller once, unless they opted out or were erased since the call
    (`epoch`: their FORGET tombstone when it was queued); retryable failures raise SendFailed
    (RQ retries the job, and the retry looks at Twilio before it sends)."""
    settings = load_settings()
    job = get_current_job()
    connection = job.connection if job else redis.Redis.from_url(settings.redis_url)
    vault, store = Vault(settings.secret), Store(connection, settings.session_ttl)
    tombstones = Tombstones(connection)
    number = vault.decrypt(sealed_number)
    if not number:
        log.error("voice text dropped: the number does not decrypt (was HELPLINE_SECRET changed?)")
        return {"sent": False, "reason": "undecryptable"}
    subject = vault.subject(number)
    if tombstones.erased(subject, epoch):
        return _erased(job)
    if store.is_opted_out(subject):
        log.info("voice text to %s skipped: the number opted out", mask_number(number))
        return {"sent": False, "reason": "opted_out"}
    # The job id names the call and the screen (bot/channels/voice.py): one marker per text.
    slot = job.id if job else "direct-" + vault.token(f"{subject}:{node}:{digest(body)}")
    # The number's send rate is shared with the check-ins (bot/storage/ratelimit.py).
    bucket = TokenBucket(connection, OUTBOUND_RATE_KEY, settings.send_rate_per_second)
    sender = build_sender(settings)
    try:
        outcome, result = deliver(Markers(connection), sender, bucket,
                                  Attempt(subject, slot, number, body, epoch=epoch))
    finally:
        getattr(sender, "close", lambda: None)()
    if outcome in (SENT, DONE):  # so the "Reply 1 ..." in the text works
        store.put_on_screen(subject, node, locale, epoch=epoch)
    if tombstones.erased(subject, epoch):  # FORGET came while it waited or was at Twilio
        return _erased(job, sent=outcome == SENT)
    if outcome == RETRY:
        raise SendFailed(result.detail if result else "not known whether Twilio took the text")
    if outcome == SKIPPED:
        return {"sent": False, "reason": "opted_out"}
    return {"sent": outcome in (SENT, DONE), "sid": result.sid if result else None,
            "detail": result.detail if result else "had gone out already"}


def _erased(job, sent: bool = False) -> dict:
    """The caller erased everything (FORGET): no retry, and RQ keeps no record of this job."""
    log.info("voice text %s: the caller erased their records", "sent before" if sent else "dropped")
    forget_job(job)
    return {"sent": sent, "reason": "erased"}
