"""The inbox's RQ jobs, run by `python worker.py`: sending a reply or notice exactly once, and
the timers of timers.py (unclaimed, silent, idle, wake).

A text goes through bot/outbound/delivery.py with a send marker per thread line
(bot/outbound/markers.py, slot "inbox-<ticket>-<line>"): a retry after a Twilio timeout asks
Twilio before it sends again, and a STOP that arrived meanwhile wins. The job's payload is the
ticket number and the line: the number is decrypted from the ticket at send time, the text from
the thread. Job names are kept by bot/legacy.py's rules: move them only with an alias.
"""
from __future__ import annotations

import json
import logging
import time

from rq import Retry

from bot.checkins import jobs as runtime_jobs
from bot.inbox import timers
from bot.inbox.tickets import CLAIMED
from bot.ops import metrics
from bot.outbound.delivery import DONE, FAILED, RETRY, SENT, SKIPPED, Attempt, deliver
from bot.outbound.markers import Markers
from bot.outbound.sender import ConsoleSender
from bot.storage.keys import INBOX_ALERTS_KEY, inbox_ticket_key

log = logging.getLogger(__name__)
ALERTS_KEEP = 50
ALERTS_TTL = 7 * 86400


def _host():
    rt = runtime_jobs.runtime()
    return rt, rt.helpline.extras["inbox"]


def send(n: int, index: int):
    """Text one thread line (a staff reply, or a notice of the helpline's own) to the person."""
    rt, host = _host()
    tickets = host.tickets
    ticket, entry = tickets.get(n), tickets.entry(n, index)
    if ticket is None or entry is None:
        return "gone"  # erased (FORGET) or past retention before it could go
    if entry.get("kind") == "out":
        body = tickets.vault.unseal(entry.get("text") or "")
    else:
        body = rt.helpline.content.render(entry["key"], ticket.locale)
    number = tickets.number(ticket)
    if not number or not body:
        log.error("inbox text not sent: the number or text does not decrypt "
                  "(was HELPLINE_SECRET changed?)")
        tickets.set_status(n, index, "failed")
        host.events.notify("delivery", n)
        return "failed"
    markers = Markers(rt.redis)
    attempt = Attempt(tickets.vault.subject(number), f"inbox-{n}-{index}", number, body)
    outcome, result = deliver(markers, rt.sender, rt.bucket, attempt)
    metrics.record_send(rt.redis, result if result is not None else "skipped")
    if outcome == RETRY:
        tickets.set_status(n, index, "sending")
        return Retry(max=len(runtime_jobs.BACKOFF), interval=runtime_jobs.BACKOFF)
    if outcome == SENT:
        tickets.remember_sid(result.sid, n, index)
        tickets.set_status(n, index, "sent")
        if isinstance(rt.sender, ConsoleSender):  # development: `flask chat` shows it
            rt.subs.outbox_push(attempt.subject, body)
    elif outcome == DONE:
        marker = markers.marker(attempt.subject, attempt.slot) or ""
        if marker.startswith("sent:"):
            tickets.remember_sid(marker[5:], n, index)
        tickets.set_status(n, index, "sent")
    elif outcome == SKIPPED:
        tickets.set_status(n, index, "opted_out")  # STOP came first: nothing was sent
    elif outcome == FAILED:
        log.warning("inbox text refused by Twilio: %s", result and result.detail)
        tickets.set_status(n, index, "failed")
    host.events.notify("delivery", n)
    return outcome


def unclaimed(n: int):
    """Nobody claimed it in time: tell the person once, with 988 and the menu; it stays queued."""
    _, host = _host()
    ticket = host.tickets.get(n)
    if ticket is None or not ticket.is_open or ticket.claimed:
        return "not needed"
    if not host.redis.hsetnx(inbox_ticket_key(n), "told", "1"):
        return "told already"
    host.desk.notice(n, "inbox.no_one_free", "no one was free yet: the person was told, with 988")
    host.events.notify("unclaimed", n)
    return "told"


def silent(n: int, anchor: int):
    """Claimed, and the person unanswered since `anchor`: back to the queue, admins alerted."""
    _, host = _host()
    ticket = host.tickets.get(n)
    if (ticket is None or ticket.status != CLAIMED or ticket.owed is None
            or int(ticket.owed) != int(anchor)):
        return "stale"  # answered, handed on, closed or erased since
    minutes = host.desk.silent // 60
    why = f"no reply from {ticket.owner} for {minutes} min: back in the queue, admins alerted"
    if not host.desk.transfer("timer", n, "", admin=True, why=why).ok:
        return "stale"
    alert = {"at": time.time(), "ticket": n, "owner": ticket.owner, "minutes": minutes}
    pipe = host.redis.pipeline()
    pipe.lpush(INBOX_ALERTS_KEY, json.dumps(alert))
    pipe.ltrim(INBOX_ALERTS_KEY, 0, ALERTS_KEEP - 1)
    pipe.expire(INBOX_ALERTS_KEY, ALERTS_TTL)
    pipe.execute()
    host.events.notify("alert", n)
    return "requeued"


def idle(n: int, anchor: int):
    """No message either way since `anchor` for INBOX_IDLE_HOURS: the ticket closes itself.
    A message since then moves the timer to the new last message."""
    _, host = _host()
    ticket = host.tickets.get(n)
    if ticket is None or not ticket.is_open:
        return "stale"
    if int(ticket.activity) != int(anchor):
        timers.book_now(host.redis, "idle", n, ticket.activity + host.tickets.idle,
                        anchor=ticket.activity)
        return "moved"
    code, _ = host.tickets.close(ticket, "idle", time.time(), admin=True)
    if code != 1:
        return "stale"
    host.tickets.push(n, {"at": time.time(), "kind": "event",
                          "what": "closed: no message either way for a long while"})
    host.desk.notice(n, "inbox.closed_idle")
    host.events.notify("closed", n)
    return "closed"


def wake(n: int, anchor: int):
    """A snooze ended: the ticket is back in its place in the list."""
    _, host = _host()
    ticket = host.tickets.get(n)
    if ticket is None or ticket.snoozed is None or int(ticket.snoozed) != int(anchor):
        return "stale"
    host.redis.hdel(inbox_ticket_key(n), "snoozed")
    host.tickets.push(n, {"at": time.time(), "kind": "event", "what": "snooze ended"})
    host.events.notify("wake", n)
    return "woke"
