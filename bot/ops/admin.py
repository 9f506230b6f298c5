"""Operator pages: RQ's own dashboard under /admin/rq, for console admins.

Staff signed in to the console with the admin role get in; viewers and editors get 403, anyone
else the console's sign-in page (401 for a non-GET). ADMIN_PASSWORD (HTTP basic auth) still
works as a deprecated fallback, with a warning in the log on each use; production refuses a
weak one at start-up (bot/config.py), and wrong passwords are throttled per client address.

rq-dashboard 0.9 changes state on GET (/requeue/<queue> requeues every failed job) and its
pages post with JavaScript and no CSRF token. So here: GET is allowed only on the endpoints that
only read (an allow-list), and every other request must be a POST whose Origin or Referer is
this host. The guard runs before any of the dashboard's code, static files and JSON included.
"""
from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, redirect, request, url_for

log = logging.getLogger(__name__)
PREFIX = "/admin/rq"
DASHBOARD = "rq_dashboard"  # the blueprint's name in rq-dashboard 0.9
REALM = 'Basic realm="helpline admin", charset="UTF-8"'
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MIN_PASSWORD_LENGTH = 16
MAX_WRONG_PASSWORDS = 10  # per client address, per FAIL_WINDOW: then 429
# The dashboard's endpoints that only read; any other one changes state and needs a POST.
READ_ONLY = frozenset(f"{DASHBOARD}.{name}" for name in (
    "static", "favicon", "queues_overview", "workers_overview", "jobs_overview", "job_view",
    "list_queues", "list_jobs", "job_info", "list_workers"))


def init_app(app: Flask, helpline, security) -> None:
    """Mount the dashboard on our Redis connection, behind the admin role (or ADMIN_PASSWORD).
    `security` is the console's (bot/console/security.py: current_staff, address_locked,
    count_failure), passed in by the app factory, so bot.ops imports nothing of the console."""
    password = helpline.settings.admin_password
    if password:
        log.warning("ADMIN_PASSWORD is deprecated: sign in to /console as an admin instead "
                    "(flask --app wsgi staff add NAME --role admin)")
        if len(password) < MIN_PASSWORD_LENGTH:
            log.warning("ADMIN_PASSWORD is shorter than %d characters; use a long random one",
                        MIN_PASSWORD_LENGTH)
    import rq_dashboard  # pulls in arrow and its templates

    # Shown on the dashboard's page (it masks any password); the connection itself is ours.
    app.config["RQ_DASHBOARD_REDIS_URL"] = (helpline.settings.redis_url,)
    app.redis_conn = helpline.redis
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)
    protect(app, DASHBOARD, password, security)

    def use_our_connection() -> None:
        # The dashboard's own hook re-opens a client from the URL on each request; keep ours
        # (same timeouts, same Sentinel set-up) for every query it makes.
        current_app.redis_conn = helpline.redis

    app.before_request_funcs.setdefault(DASHBOARD, []).append(use_our_connection)


def protect(app: Flask, blueprint: str, password: str, security) -> None:
    """Run the admin guard first among a blueprint's request hooks (app-level hooks run before)."""
    def guard():
        return check_request(password, security)

    app.before_request_funcs.setdefault(blueprint, []).insert(0, guard)


def check_request(password: str, security):
    """Who: admin session, else the deprecated password; then what: no state change on GET,
    no cross-site post, no other Redis instance."""
    staff = security.current_staff()
    if staff is not None and not staff.can("admin"):
        abort(403, description="The queue pages are for admins.")
    if staff is None:
        refused = _password_refusal(password, security)
        if refused is not None:
            return refused
        log.warning("admin pages opened with the deprecated ADMIN_PASSWORD")
    if request.method in SAFE_METHODS and request.endpoint not in READ_ONLY:
        abort(405, description="This action changes state: it must be a POST from the page.")
    if request.method not in SAFE_METHODS and not same_origin():
        abort(403, description="Admin actions must come from the admin page itself.")
    if (request.view_args or {}).get("instance_number", 0) != 0:
        abort(404, description="Only one Redis is configured.")
    return None


def _password_refusal(password: str, security):
    """None when the basic-auth password is right; else the sign-in page, 401 or 429."""
    if not password:
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        abort(401, description="Sign in to the console as an admin.")
    if security.address_locked(MAX_WRONG_PASSWORDS):
        return Response("429 Too Many Requests: too many wrong admin passwords; wait 15 minutes.\n",
                        status=429, mimetype="text/plain", headers={"Retry-After": "900"})
    if not password_matches(request.authorization, password):
        if request.authorization is not None:
            security.count_failure(None)
        return Response("401 Unauthorized: sign in to /console as an admin (or, deprecated, "
                        "the ADMIN_PASSWORD).\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": REALM, "Cache-Control": "no-store"})
    return None


def password_matches(auth, password: str) -> bool:
    if auth is None or auth.type != "basic" or auth.password is None:
        return False
    return hmac.compare_digest(auth.password.encode(), password.encode())


def same_origin() -> bool:
    """Browsers send cookies and basic auth with cross-site posts too; Origin or Referer tells
    them apart."""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    netloc = urlsplit(source).netloc
    return bool(netloc) and netloc == request.host  # host only: a TLS proxy may hide the scheme
