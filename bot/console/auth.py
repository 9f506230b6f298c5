"""Sign-in (password + second factor in one form), sign-out, the audit log and the staff list.

Wrong answers are counted per account and per client address (security.py); a locked account or
address gets 429 before any password is checked. Every outcome lands in the audit log.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import abort, redirect, render_template, request, url_for

from bot.console import bp, security
from bot.console.accounts import check_name, AccountError

LOCKED = ("Too many wrong tries. Wait 15 minutes, or ask an admin to reset the account "
          "(flask --app wsgi staff reset NAME).")


def _name(raw: str) -> str:
    try:
        return check_name(raw)
    except AccountError:
        return "?"  # still counted against the address, never used as a key part


@bp.route("/login", methods=["GET", "POST"])
def login():
    c = security.console()
    needs_code = not c.helpline.settings.is_development
    if request.method == "GET":
        if security.current_staff():
            return redirect(security.safe_next(request.args.get("next")))
        return render_template("console/login.html", next=request.args.get("next", ""))
    username = _name(request.form.get("username", ""))
    if security.locked(username):
        c.audit.record(username, "sign-in refused", "locked (too many wrong tries)")
        return render_template("console/login.html", error=LOCKED,
                               next=request.form.get("next", "")), 429
    account = c.accounts.verify_password(username, request.form.get("password", ""))
    ok = account is not None
    if ok and (account.has_totp or needs_code):
        ok = account.has_totp and c.accounts.verify_second_factor(username,
                                                                  request.form.get("code", ""))
    if not ok:
        security.count_failure(username)
        c.audit.record(username, "sign-in failed")
        return render_template("console/login.html", next=request.form.get("next", ""),
                               error="That user name, password or code is not right."), 401
    security.clear_failures(username)
    security.start_session(username)
    c.accounts.signed_in(username)
    c.audit.record(username, "signed in")
    return redirect(security.safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    staff = security.current_staff()
    if staff:
        security.console().audit.record(staff.username, "signed out")
    security.end_session()
    return redirect(url_for("console.login"))


@bp.get("/audit")
@security.require("admin")
def audit():
    c = security.console()
    entries = [dict(e, when=datetime.fromtimestamp(e["at"], timezone.utc)
                    .strftime("%Y-%m-%d %H:%M:%S UTC")) for e in c.audit.recent(300)]
    return render_template("console/audit.html", entries=entries, accounts=c.accounts.all(),
                           fmt=_when)


def _when(ts):
    if not ts:
        return "never"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def record(what: str, detail: str = "") -> None:
    """Log an action of the signed-in staff member (pages call this for state changes)."""
    staff = security.current_staff()
    if staff is None:
        abort(401)
    security.console().audit.record(staff.username, what, detail)
