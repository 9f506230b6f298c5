"""Operator pages: RQ's own dashboard under /admin/rq, behind HTTP basic auth with ADMIN_PASSWORD.

Without ADMIN_PASSWORD nothing is mounted, so /admin/... answers 404. The dashboard has no
authentication of its own; the guard below runs before any of its code on every request,
including its static files and JSON endpoints. Any user name is accepted; the password decides.
"""
from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, request

log = logging.getLogger(__name__)
PREFIX = "/admin/rq"
DASHBOARD = "rq_dashboard"  # the blueprint's name in rq-dashboard 0.9
REALM = 'Basic realm="helpline admin", charset="UTF-8"'
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MIN_PASSWORD_LENGTH = 12


def init_app(app: Flask, helpline) -> None:
    """Mount the dashboard on our Redis connection when ADMIN_PASSWORD is set, else do nothing."""
    password = helpline.settings.admin_password
    if not password:
        return
    if len(password) < MIN_PASSWORD_LENGTH:
        log.warning("ADMIN_PASSWORD is shorter than %d characters; use a long random one",
                    MIN_PASSWORD_LENGTH)
    import rq_dashboard  # only when enabled: it pulls in arrow and its templates

    # Shown on the dashboard's page (it masks any password); the connection itself is ours.
    app.config["RQ_DASHBOARD_REDIS_URL"] = (helpline.settings.redis_url,)
    app.redis_conn = helpline.redis
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)
    protect(app, DASHBOARD, password)

    def use_our_connection() -> None:
        # The dashboard's own hook re-opens a client from the URL on each request; keep ours
        # (same timeouts, same Sentinel set-up) for every query it makes.
        current_app.redis_conn = helpline.redis

    app.before_request_funcs.setdefault(DASHBOARD, []).append(use_our_connection)


def protect(app: Flask, blueprint: str, password: str) -> None:
    """Run the admin guard first among a blueprint's request hooks (app-level hooks run before)."""
    def guard():
        return check_request(password)

    app.before_request_funcs.setdefault(blueprint, []).insert(0, guard)


def check_request(password: str):
    """401 without the password, 403 for a cross-site form post, 404 for other Redis instances."""
    if not password_matches(request.authorization, password):
        return Response("401 Unauthorized: the admin pages need the ADMIN_PASSWORD.\n",
                        status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": REALM, "Cache-Control": "no-store"})
    if request.method not in SAFE_METHODS and not same_origin():
        abort(403, description="Admin actions must come from the admin page itself.")
    if (request.view_args or {}).get("instance_number", 0) != 0:
        abort(404, description="Only one Redis is configured.")
    return None


def password_matches(auth, password: str) -> bool:
    if auth is None or auth.type != "basic" or auth.password is None:
        return False
    return hmac.compare_digest(auth.password.encode(), password.encode())


def same_origin() -> bool:
    """Browsers send basic auth with cross-site posts too; Origin or Referer tells them apart."""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    netloc = urlsplit(source).netloc
    return bool(netloc) and netloc == request.host  # host only: a TLS proxy may hide the scheme
