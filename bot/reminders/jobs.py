"""The RQ job that sends one reminder when RQ's scheduler says its time has come.

It runs in the worker and shares everything with the check-ins: the Runtime (sender, the send
rate all workers share, quiet hours), bot/outbound/delivery.py's exactly-once send with its lookup at
Twilio after a timeout, and RQ's Retry with the same backoff. Its payload is the keyed hash and
the reminder id; the number is decrypted from the reminder's own record at send time, and the
record (with the number) goes once the text went out or was refused for good. A reminder that
is cancelled, or whose person was erased (FORGET) while it was under way, leaves no record of
its job behind.
"""
from __future__ import annotations

import logging

from rq import Retry, get_current_job

from bot.checkins import jobs

from bot.ops import metrics
from bot.outbound.delivery import DONE, FAILED, RETRY, SENT, Attempt, deliver
from bot.conversation.engine import MAIN
from bot.outbound.sender import ConsoleSender, mask_number
from bot.reminders.ledger import Ledger
from bot.storage.tombstone import forget_job

log = logging.getLogger(__name__)


def send_reminder(subject: str, rid: str):
    """Text one reminder, once; returns RQ's Retry after 429, 5xx and network errors."""
    rt = jobs.runtime()
    reminders, store = rt.helpline.extras["reminders"], rt.helpline.store
    job = get_current_job()
    record = reminders.load(subject, rid)
    if record is None or (job is not None and record.job != job.id):
        forget_job(job)  # its record would name the person's keyed hash for an hour
        return "cancelled"  # cancelled, forgotten or moved to another time since it was booked
    if store.is_opted_out(subject):
        reminders.done(subject, record)
        return "opted_out"
    now = jobs.utcnow()
    if rt.rules.quiet(now) and not record.named:  # a time the person named is kept, even at night
        if not reminders.reschedule(subject, record, rt.rules.next_allowed(now)):
            forget_job(job)
            return "cancelled"
        return "deferred"
    number = rt.helpline.vault.decrypt(record.num)
    if not number:
        log.error("reminder dropped: the number does not decrypt (was HELPLINE_SECRET changed?)")
        reminders.done(subject, record)
        return "failed"
    attempt = Attempt(subject, record.slot, number, reminders.compose(record), epoch=record.epoch)
    outcome, result = deliver(Ledger(reminders, record), rt.sender, rt.bucket, attempt)
    metrics.record_send(rt.redis, result if result is not None else "skipped")
    if reminders.tombstones.erased(subject, record.epoch):  # FORGET came while it was under way
        forget_job(job)  # no retry, and no record of the job written back
        return "erased"
    if outcome == RETRY:
        return Retry(max=len(jobs.BACKOFF), interval=jobs.BACKOFF)
    if outcome in (SENT, DONE):
        # The text ends with the screen's "Reply 1 ...": put the conversation on that screen.
        store.put_on_screen(subject, record.node or MAIN, record.locale, record.keep,
                            epoch=record.epoch)
        if outcome == SENT and isinstance(rt.sender, ConsoleSender):
            rt.subs.outbox_push(subject, attempt.body, record.epoch)  # `flask chat` shows it
    elif outcome == FAILED:
        log.warning("reminder to %s refused: %s", mask_number(number), result and result.detail)
    if outcome in (SENT, DONE, FAILED):
        reminders.done(subject, record)
    return outcome
