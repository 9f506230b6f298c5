"""Admin pages: the audit log (/console/audit) and staff management (/console/staff).

Every change an admin makes here is audited under their own name, and every form carries the
session's CSRF token (bot/console/__init__.py checks it before any view runs).
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import abort, render_template, request

from bot.console import auth, bp, security
from bot.console.accounts import ROLES, AccountError, check_name
from bot.console.keys import AUDIT_DAYS


def when(ts) -> str:
    if not ts:
        return "never"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@bp.get("/audit")
@security.require("admin")
def audit():
    c = security.console()
    try:
        before = float(request.args.get("before", "")) or None
    except ValueError:
        before = None
    entries = [dict(e, when=datetime.fromtimestamp(e["at"], timezone.utc)
                    .strftime("%Y-%m-%d %H:%M:%S UTC")) for e in c.audit.recent(300, before)]
    return render_template("console/audit.html", entries=entries, failures=c.audit.failures(48),
                           older=entries[-1]["at"] if len(entries) == 300 else None,
                           days=AUDIT_DAYS)


# --- staff management ----------------------------------------------------------------------------
def _rows():
    c = security.console()
    now = c.clock()
    return [{"a": a, "locked": c.lockout.locked_from(a.username, now) if a.active else 0,
             "codes": c.accounts.recovery_left(a.username) if a.has_totp else 0}
            for a in c.accounts.all()]


def _page(notice: str = "", error: str = "", enrolment=None, who: str = "", status: int = 200):
    return render_template("console/staff.html", rows=_rows(), roles=ROLES, when=when,
                           notice=notice, error=error, enrolment=enrolment, who=who), status


@bp.get("/staff")
@security.require("admin")
def staff_page():
    return _page()[0]


def _last_admin_kept(name: str, new_role: str | None) -> bool:
    """An admin may not take away the last active admin (themselves included)."""
    others = [a for a in security.console().accounts.all()
              if a.active and a.role == "admin" and a.username != name]
    return bool(others) or new_role == "admin"


@bp.post("/staff/add")
@security.require("admin")
def staff_add():
    c = security.console()
    name, role = request.form.get("username", ""), request.form.get("role", "viewer")
    try:
        enrolment = c.accounts.add(name, role)
    except AccountError as exc:
        return _page(error=str(exc), status=400)
    name = check_name(name)
    auth.record("account added", f"{name} ({role})")
    return _page(notice=f"Added {name} ({role}). Give them what follows; it is shown only now.",
                 enrolment=enrolment, who=name)


@bp.post("/staff/<username>/<action>")
@security.require("admin")
def staff_change(username: str, action: str):
    c = security.console()
    try:
        name = check_name(username)
        if c.accounts.get(name) is None:
            raise AccountError(f"no account {name}")
        if action == "role":
            role = request.form.get("role", "")
            if not _last_admin_kept(name, role):
                raise AccountError("that would leave no active admin")
            c.accounts.set_role(name, role)
            auth.record("role changed", f"{name} to {role}")
            return _page(notice=f"{name} is now {role}; their sessions ended.")
        if action == "disable":
            if not _last_admin_kept(name, None):
                raise AccountError("that would leave no active admin")
            c.accounts.disable(name)
            auth.record("account disabled", name)
            return _page(notice=f"Disabled {name}; their sessions ended.")
        if action == "unlock":
            lifted = c.lockout.unlock(name)
            auth.record("account unlocked", f"{name} ({lifted} locked addresses)")
            return _page(notice=f"Unlocked {name}; the password is unchanged.")
        if action == "reset":
            enrolment = c.accounts.reset(name)
            c.lockout.unlock(name)
            auth.record("account reset", name)
            return _page(notice=f"Reset {name}: a new password and second factor, shown only "
                                "now. Their sessions ended.", enrolment=enrolment, who=name)
    except AccountError as exc:
        return _page(error=str(exc), status=400)
    abort(404, description=f"No staff action {action!r}.")
