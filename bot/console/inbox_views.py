"""/console/inbox: the staffed text inbox (responders and admins). Views only translate HTTP to
bot/inbox/actions.py and back; the pages update live from /console/inbox/events (server-sent
events, bot/inbox/events.py) and work without script too (every action is a plain form).

Staff see a ticket number and an alias, never the phone number. Every action is audited by the
staff member's user name (actions.py calls the console's audit log).
"""
from __future__ import annotations

import json
import time
from datetime import datetime

from flask import Response, abort, g, redirect, render_template, request, url_for
from gevent import monkey

from bot.console import bp, security
from bot.console.accounts import role_at_least
from bot.inbox import figures
from bot.inbox.actions import SNOOZES, Done
from bot.inbox.tickets import CLAIMED, WAITING, Ticket
from bot.storage.keys import INBOX_ALERTS_KEY

FOLDERS = {"unassigned": "Unassigned", "mine": "Mine", "all": "All"}
DONE_MESSAGES = {"claimed": "The ticket is yours.", "replied": "Reply queued.",
                 "noted": "Note added.", "moved": "Ticket handed on.",
                 "snoozed": "Ticket snoozed.", "closed": "Ticket closed; the person was told."}
ALERT_HOURS = 24


def _host():
    host = security.console().helpline.extras.get("inbox")
    if host is None:
        abort(404, description="The inbox is not installed.")
    return host


def _me():
    return security.current_staff()


def _local(ts: float | None, fmt: str = "%a %H:%M") -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, security.console().helpline.settings.tz).strftime(fmt)


def _order(tickets: list[Ticket], now: float) -> list[Ticket]:
    """Urgent first, then the longest waiting; snoozed ones last; then closed ones, newest."""
    live = sorted((t for t in tickets if t.is_open),
                  key=lambda t: (t.snoozed_at(now), not t.urgent, t.waiting_since))
    closed = sorted((t for t in tickets if not t.is_open), key=lambda t: -(t.closed or 0))
    return live + closed


def _folder(name: str, tickets: list[Ticket], me: str) -> list[Ticket]:
    if name == "unassigned":
        return [t for t in tickets if t.status == WAITING]
    if name == "mine":
        return [t for t in tickets if t.status == CLAIMED and t.owner == me]
    return tickets


def _listing(folder: str) -> dict:
    host, me, now = _host(), _me(), time.time()
    version = host.events.version()  # read first: a change after it reaches the page later
    tickets = _order(host.tickets.all(), now)
    counts = {name: len(_folder(name, tickets, me.username)) for name in FOLDERS}
    return {"folder": folder, "folders": FOLDERS, "counts": counts, "now": now,
            "version": version,
            "rows": _folder(folder, tickets, me.username), "when": _local, "ago": _ago,
            "alerts": _alerts() if me.can("admin") else []}


def _ago(ts: float | None, now: float) -> str:
    return figures.minutes(now - ts) if ts else ""


def _alerts() -> list[dict]:
    raw = security.console().redis.lrange(INBOX_ALERTS_KEY, 0, 19)
    cutoff = time.time() - ALERT_HOURS * 3600
    return [a for a in (json.loads(r) for r in raw) if a.get("at", 0) >= cutoff]


@bp.get("/inbox")
@security.require("responder")
def inbox():
    folder = request.args.get("folder", "unassigned")
    folder = folder if folder in FOLDERS else "unassigned"
    host = _host()
    return render_template("console/inbox.html", **_listing(folder), hours=host.hours.describe(),
                           staffed=host.hours.staffed(datetime.now(host.hours.tz)))


@bp.get("/inbox/list")
@security.require("responder")
def inbox_list():
    folder = request.args.get("folder", "unassigned")
    return render_template("console/_inbox_list.html",
                           **_listing(folder if folder in FOLDERS else "unassigned"))


def _ticket_or_404(n: int) -> Ticket:
    ticket = _host().tickets.get(n)
    if ticket is None:
        abort(404, description=f"Ticket #{n} is no longer kept: erased at the person's request, "
                               "or past its retention.")
    return ticket


def _thread(ticket: Ticket, version: int = 0) -> dict:
    return {"t": ticket, "entries": _host().tickets.thread(ticket), "when": _local,
            "version": version}


def _responders(exclude: str) -> list[str]:
    accounts = security.console().accounts.all()
    return [a.username for a in accounts if a.active and a.username != exclude
            and role_at_least(a.role, "responder")]


def _page(n: int, message: str = "", error: str = "", status: int = 200):
    host, me = _host(), _me()
    version = host.events.version()  # read first: a change after it reaches the page later
    ticket = _ticket_or_404(n)
    mine = ticket.status == CLAIMED and ticket.owner == me.username
    context = dict(_thread(ticket, version), mine=mine, admin=me.can("admin"),
                   can_reply=ticket.is_open and (mine or ticket.status == WAITING),
                   canned=host.desk.canned(ticket.locale), staff_list=_responders(ticket.owner),
                   snoozes=SNOOZES, message=message, error=error, now=time.time(),
                   draft=request.form.get("text", "") if error else "")
    return render_template("console/ticket.html", **context), status


@bp.get("/inbox/<int:n>")
@security.require("responder")
def ticket(n: int):
    return _page(n, message=DONE_MESSAGES.get(request.args.get("done", ""), ""))


@bp.get("/inbox/<int:n>/thread")
@security.require("responder")
def ticket_thread(n: int):
    return render_template("console/_thread.html", **_thread(_ticket_or_404(n)))


def _after(n: int, done: Done, what: str):
    """Success: back to the ticket (a reload does not post again). Refused: the page, the
    reason and the status that says it (409 taken by someone else, 403 not yours...)."""
    if done.ok:
        return redirect(url_for("console.ticket", n=n, done=what) + "#reply", code=303)
    if done.status == 404:
        abort(404, description=done.message)
    return _page(n, error=done.message, status=done.status)


@bp.post("/inbox/<int:n>/claim")
@security.require("responder")
def ticket_claim(n: int):
    return _after(n, _host().desk.claim(_me().username, n), "claimed")


@bp.post("/inbox/<int:n>/reply")
@security.require("responder")
def ticket_reply(n: int):
    done = _host().desk.reply(_me().username, n, request.form.get("text", "")[:1600],
                              request.form.get("canned", "")[:40])
    return _after(n, done, "replied")


@bp.post("/inbox/<int:n>/note")
@security.require("responder")
def ticket_note(n: int):
    return _after(n, _host().desk.note(_me().username, n, request.form.get("note", "")[:4000]),
                  "noted")


@bp.post("/inbox/<int:n>/transfer")
@security.require("responder")
def ticket_transfer(n: int):
    me, to = _me(), (request.form.get("to") or "").strip()
    if to and to not in _responders(""):
        return _page(n, error=f"{to} is not an active responder or admin.", status=400)
    return _after(n, _host().desk.transfer(me.username, n, to, me.can("admin")), "moved")


@bp.post("/inbox/<int:n>/snooze")
@security.require("responder")
def ticket_snooze(n: int):
    try:
        minutes = int(request.form.get("minutes", "0"))
    except ValueError:
        minutes = 0
    me = _me()
    return _after(n, _host().desk.snooze(me.username, n, minutes, me.can("admin")), "snoozed")


@bp.post("/inbox/<int:n>/close")
@security.require("responder")
def ticket_close(n: int):
    me = _me()
    return _after(n, _host().desk.close(me.username, n, me.can("admin")), "closed")


@bp.get("/inbox/events")
@security.require("responder")
def inbox_events():
    """Server-sent events: `change` whenever any ticket changes (no text, no number in them).
    Held open only where holding is cheap (docs/inbox.md: gevent workers, or a thread per
    request); under sync workers it answers at once and the browser asks again later."""
    g.pop("metrics_started", None)  # a stream's length is no request latency (bot/ops/metrics.py)
    held = holds_cheaply(request.environ)
    seconds = _host().helpline.settings.inbox_stream_seconds if held else 0
    seen = request.headers.get("Last-Event-ID") or request.args.get("since")  # the page's version
    stream = _host().events.stream(seen, seconds)
    return Response(stream, mimetype="text/event-stream",
                    headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})


def holds_cheaply(environ: dict) -> bool:
    """A held stream costs a greenlet (gunicorn's gevent worker: the project's default) or a
    thread of a server that starts one per request (the development server); a sync worker
    would be taken whole, and a gthread worker would lose one of its few threads."""
    if monkey.is_module_patched("socket"):
        return True
    return str(environ.get("SERVER_SOFTWARE", "")).startswith("Werkzeug")
