"""Sign-in (password + second factor in one form) and sign-out; `record` audits a staff action.

Wrong answers are counted per account-and-address and per address (lockout.py): a locked pair
gets 429 before any password is checked; a locked address gets in only with the right password
and a valid second factor. Sign-ins and sign-outs are audited; failed and refused ones are
counted per hour (audit.py), so a stranger cannot fill or flush the log.
"""
from __future__ import annotations

from flask import abort, make_response, redirect, render_template, request, url_for

from bot.console import bp, security
from bot.console.accounts import check_name, AccountError


def _name(raw: str) -> str:
    try:
        return check_name(raw)
    except AccountError:
        return "?"  # still counted against the address, never used as a key part


def _refused(message: str, status: int, wait: int = 0):
    response = make_response(render_template("console/login.html", error=message,
                                             next=request.form.get("next", "")), status)
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


def _locked(gate):
    """429, worded the same for a locked account-and-address and a locked address whatever the
    account, so a stranger cannot tell which names exist."""
    wait = gate.address_wait or gate.pair_wait
    if gate.address_wait:
        return _refused("Too many wrong tries from here: only the right password with a code from "
                        f"an authenticator app gets in now. Otherwise try again in "
                        f"{_minutes(wait)}, or ask an admin to unlock your account.", 429, wait)
    return _refused(f"Too many wrong tries for this account from here. Try again in "
                    f"{_minutes(wait)}, or ask an admin to unlock it.", 429, wait)


def _minutes(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


@bp.route("/login", methods=["GET", "POST"])
def login():
    c = security.console()
    needs_code = not c.helpline.settings.is_development
    if request.method == "GET":
        if security.current_staff():
            return redirect(security.safe_next(request.args.get("next")))
        return render_template("console/login.html", next=request.args.get("next", ""))
    username, now = _name(request.form.get("username", "")), c.clock()
    known = username != "?" and c.accounts.get(username) is not None
    gate = c.lockout.gate(username, now)
    if gate.pair_wait:  # absolute: not even the right answer is checked
        c.audit.failed_sign_in(username if known else None, c.lockout.token(), True, now)
        return _locked(gate)
    account = c.accounts.verify_password(username, request.form.get("password", ""))
    ok = account is not None
    if ok and (account.has_totp or needs_code or gate.address_wait):
        ok = account.has_totp and c.accounts.verify_second_factor(username,
                                                                  request.form.get("code", ""))
    if not ok:
        # Any well-formed name counts for its pair (so a lock tells nothing about which names
        # exist), except made-up ones once the address waits: they could fill Redis.
        counted = username != "?" and (known or not gate.address_wait)
        c.lockout.failed(username if counted else None, now)
        c.audit.failed_sign_in(username if known else None, c.lockout.token(),
                               bool(gate.address_wait), now)
        if gate.address_wait:
            return _locked(gate)
        return _refused("That user name, password or code is not right.", 401)
    c.lockout.succeeded(username)
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


def record(what: str, detail: str = "") -> None:
    """Log an action of the signed-in staff member (pages call this for state changes)."""
    staff = security.current_staff()
    if staff is None:
        abort(401)
    security.console().audit.record(staff.username, what, detail)
