"""The RQ job behind "press 8 to get this by text": runs in the worker, never in the web process.

The payload holds the caller's number only encrypted (Vault.encrypt); the job decrypts it,
skips anyone who texted STOP, sends through bot.outbound.sender, and leaves the caller's text
conversation on the same screen, so the "Reply 1 ..." in the text works.
"""
from __future__ import annotations

import logging

import redis
from rq import get_current_job

from bot.config import load_settings
from bot.conversation.content import segments
from bot.outbound.sender import build_sender
from bot.privacy.vault import Vault, mask_number
from bot.storage.ratelimit import TokenBucket
from bot.storage.keys import OUTBOUND_RATE_KEY
from bot.storage.store import Store

log = logging.getLogger(__name__)


class SendFailed(RuntimeError):
    """Twilio may take the text on a later try (rate limit, 5xx, network): RQ retries the job."""


def send_screen_text(sealed_number: str, node: str, locale: str, body: str) -> dict:
    """Text one screen to a caller, unless they opted out; retryable failures raise SendFailed."""
    settings = load_settings()
    job = get_current_job()
    connection = job.connection if job else redis.Redis.from_url(settings.redis_url)
    vault, store = Vault(settings.secret), Store(connection, settings.session_ttl)
    number = vault.decrypt(sealed_number)
    if not number:
        log.error("voice text dropped: the number does not decrypt (was HELPLINE_SECRET changed?)")
        return {"sent": False, "reason": "undecryptable"}
    subject = vault.subject(number)
    if store.is_opted_out(subject):
        log.info("voice text to %s skipped: the number opted out", mask_number(number))
        return {"sent": False, "reason": "opted_out"}
    # The number's send rate is shared with the check-ins (bot/storage/ratelimit.py).
    TokenBucket(connection, OUTBOUND_RATE_KEY, settings.send_rate_per_second).wait(
        segments(body).count)
    sender = build_sender(settings)
    try:
        result = sender.send(number, body)
    finally:
        getattr(sender, "close", lambda: None)()
    if result.retryable:
        raise SendFailed(result.detail)
    if result.ok:
        store.put_on_screen(subject, node, locale)  # so the "Reply 1 ..." in the text works
    return {"sent": result.ok, "sid": result.sid, "detail": result.detail}
