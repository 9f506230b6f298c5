"""What keeps the console and the admin pages closed: the session secret, cookie settings,
security headers, server-side sessions with idle expiry, role checks (sign-in throttling: lockout.py).

The Flask session cookie (signed with a key derived from HELPLINE_SECRET) holds only a random
session id; the record in Redis says who it is, expires after CONSOLE_IDLE_MINUTES without a
request, and is deleted at sign-out, disable or reset. A forged or stale cookie is no one.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from functools import wraps

from flask import Flask, abort, current_app, g, redirect, request, session, url_for

from bot.console import keys
from bot.console.accounts import derive, role_at_least

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
       "frame-ancestors 'none'")
# rq-dashboard's pages (bot/console/queues.py) get their own policy, built from each page: its inline
# scripts and style attributes by hash, and eval for its underscore templates; nothing else.
DASHBOARD_CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval' {scripts}; style-src "
                 "'self' 'unsafe-hashes' {styles}; img-src 'self' data:; connect-src 'self'; "
                 "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")
MAX_SESSION_SECONDS = 12 * 3600  # signed in at most 12 hours, however active


def configure(app: Flask, settings) -> None:
    """Session secret and cookie flags; called once from the console's init_app."""
    if not app.secret_key:
        app.secret_key = derive(settings.secret, b"flask-session").hex()
    app.config.update(
        SESSION_COOKIE_NAME="helpline_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=not settings.is_development,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_CHECK_DEFAULT=False,  # only console forms; Twilio's webhooks are signed instead
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        WTF_CSRF_SSL_STRICT=True,  # on https, a Referer from another origin is refused as well
    )


def headers(response, csp: str = CSP):
    """The console's headers; a page that set its own policy (the RQ dashboard's) keeps it."""
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@dataclass(frozen=True)
class Staff:
    username: str
    role: str

    def can(self, role: str) -> bool:
        return role_at_least(self.role, role)


def console():
    """The console's objects (accounts, audit, settings), built in bot.console.init_app."""
    return current_app.extensions["console"]


def idle_seconds() -> int:
    return console().idle_minutes * 60


def start_session(username: str) -> None:
    """A fresh session id at every sign-in (no fixation); the old cookie content is dropped."""
    c = console()
    session.clear()
    sid = secrets.token_urlsafe(32)
    pipe = c.redis.pipeline()
    pipe.hset(keys.session(sid), mapping={"user": username, "started": str(time.time())})
    pipe.expire(keys.session(sid), idle_seconds())
    pipe.sadd(keys.sessions_of(username), sid)
    pipe.expire(keys.sessions_of(username), MAX_SESSION_SECONDS)
    pipe.execute()
    session["sid"] = sid


def end_session() -> None:
    sid = session.get("sid")
    if sid:
        c = console()
        user = c.redis.hget(keys.session(sid), "user")
        c.redis.delete(keys.session(sid))
        if user:
            c.redis.srem(keys.sessions_of(user.decode()), sid)
    session.clear()


def current_staff() -> Staff | None:
    """Who this request is from: a live session of an active account, or None."""
    if "staff" in g:
        return g.staff
    g.staff = None
    sid = session.get("sid")
    if not isinstance(sid, str) or len(sid) > 64:
        return None
    c = console()
    record = {k.decode(): v.decode() for k, v in c.redis.hgetall(keys.session(sid)).items()}
    if not record or time.time() - float(record.get("started", 0)) > MAX_SESSION_SECONDS:
        return None
    account = c.accounts.get(record["user"])
    if account is None or not account.active:
        return None
    c.redis.expire(keys.session(sid), idle_seconds())  # idle expiry: each request renews it
    g.staff = Staff(account.username, account.role)
    return g.staff


def require(role: str):
    """Signed in with at least `role`: else the sign-in page (GET) or 401, and 403 for a lower role."""
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            staff = current_staff()
            if staff is None:
                if request.method == "GET":
                    return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
                abort(401)
            if not staff.can(role):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorate


def safe_next(target: str | None) -> str:
    """Only our own console or admin pages: never an open redirect, never a header split (a
    control character such as CR or LF in the target is refused, as are backslashes and "//")."""
    if (target and target.startswith(("/console", "/admin/"))
            and not target.startswith("//") and "\\" not in target
            and not any(ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f for ch in target)):
        return target
    return url_for("console.dashboard")


HSTS = "max-age=31536000; includeSubDomains"  # a year: browsers use https only, from the app too


def transport_security(response):
    """Outside development, every answer tells browsers to use https only (behind any proxy)."""
    response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
