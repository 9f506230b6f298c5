"""Operator pages: RQ's own dashboard under /admin/rq, for console admins.

Staff signed in to the console with the admin role get in; viewers and editors get 403, anyone
else the console's sign-in page (401 for a non-GET). ADMIN_PASSWORD (HTTP basic auth) still
works as a deprecated fallback, with a warning in the log on each use; production refuses a
weak one at start-up (bot/config.py), and wrong passwords are throttled per client address.

rq-dashboard 0.9 changes state on GET (/requeue/<queue> requeues every failed job) and its
pages post with JavaScript and no CSRF token, and build their tables with underscore templates
(eval) from one inline script, under a policy made for each of its pages (page_policy). So here: GET is allowed only on the endpoints that
only read (an allow-list), and every other request must be a POST whose Origin or Referer is
this host. The guard runs before any of the dashboard's code, static files and JSON included.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import re
from collections import defaultdict
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, g, redirect, request, url_for

from bot.console import UNAVAILABLE, unavailable
from bot.console.security import DASHBOARD_CSP

log = logging.getLogger(__name__)
PREFIX = "/admin/rq"
DASHBOARD = "rq_dashboard"  # the blueprint's name in rq-dashboard 0.9
REALM = 'Basic realm="helpline admin", charset="UTF-8"'
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MIN_PASSWORD_LENGTH = 16
MAX_WRONG_PASSWORDS = 10  # per client address: then 429 with growing delays (console lockout.py)
# The dashboard's endpoints that only read; any other one changes state and needs a POST.
READ_ONLY = frozenset(f"{DASHBOARD}.{name}" for name in (
    "static", "favicon", "queues_overview", "workers_overview", "jobs_overview", "job_view",
    "list_queues", "list_jobs", "job_info", "list_workers"))
# What each state-changing endpoint does, for the audit log (view arguments filled in).
ACTIONS = {"requeue_job_view": "requeue job {job_id}", "delete_job_view": "delete job {job_id}",
           "requeue_all": "requeue every failed job of {queue_name}",
           "empty_queue": "empty {registry_name} jobs of {queue_name}",
           "compact_queue": "compact {queue_name}"}


def init_app(app: Flask, helpline) -> None:
    """Mount the dashboard on our Redis connection, behind the admin role (or ADMIN_PASSWORD)."""
    password = helpline.settings.admin_password
    if password:
        log.warning("ADMIN_PASSWORD is deprecated: sign in to /console as an admin instead "
                    "(flask --app wsgi staff add NAME --role admin)")
        if len(password) < MIN_PASSWORD_LENGTH:
            log.warning("ADMIN_PASSWORD is shorter than %d characters; use a long random one",
                        MIN_PASSWORD_LENGTH)
    import rq_dashboard  # pulls in arrow and its templates

    # The console's fail-fast client: a page says "storage unavailable" at once when Redis is not
    # there, instead of waiting on redis-py's retries.
    client = app.extensions["console"].redis
    # Shown on the dashboard's page (it masks any password); the connection itself is ours.
    app.config["RQ_DASHBOARD_REDIS_URL"] = (helpline.settings.redis_url,)
    app.redis_conn = client
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)
    protect(app, DASHBOARD, password)
    app.after_request_funcs.setdefault(DASHBOARD, []).extend((audit_action, page_policy))
    for error in UNAVAILABLE:  # as the console's pages: HTML, 503 (the blueprint is not ours)
        app.error_handler_spec[DASHBOARD][None][error] = unavailable

    def use_our_connection() -> None:
        # The dashboard's own hook re-opens a client from the URL on each request; keep ours
        # (same timeouts, same Sentinel set-up) for every query it makes.
        current_app.redis_conn = client

    app.before_request_funcs.setdefault(DASHBOARD, []).append(use_our_connection)


def protect(app: Flask, blueprint: str, password: str) -> None:
    """Run the admin guard first among a blueprint's request hooks (app-level hooks run before)."""
    def guard():
        return check_request(password)

    app.before_request_funcs.setdefault(blueprint, []).insert(0, guard)


def check_request(password: str):
    """Who: admin session, else the deprecated password; then what: no state change on GET,
    no cross-site post, no other Redis instance."""
    from bot.console import security

    staff = security.current_staff()
    if staff is not None and not staff.can("admin"):
        abort(403, description="The queue pages are for admins.")
    if staff is None:
        refused = _password_refusal(password, security)
        if refused is not None:
            return refused
        log.warning("admin pages opened with the deprecated ADMIN_PASSWORD")
    g.admin_who = staff.username if staff is not None else "ADMIN_PASSWORD"
    if request.method in SAFE_METHODS and request.endpoint not in READ_ONLY:
        abort(405, description="This action changes state: it must be a POST from the page.")
    if request.method not in SAFE_METHODS and not same_origin():
        abort(403, description="Admin actions must come from the admin page itself.")
    if (request.view_args or {}).get("instance_number", 0) != 0:
        abort(404, description="Only one Redis is configured.")
    return None


_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)
_STYLE_ATTR = re.compile(r"""\sstyle=(?:"([^"]*)"|'([^']*)')""", re.I)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page_policy(response):
    """rq-dashboard's pages only: allow its one inline script and the style attributes this page
    carries (by hash), and eval, which its underscore templates compile with. No
    'unsafe-inline': a script added to the page would not run. Other responses keep the
    console's strict policy."""
    if response.mimetype != "text/html" or response.status_code != 200 or response.is_streamed:
        return response
    page = response.get_data(as_text=True)
    inline = [m["body"] for m in _INLINE_SCRIPT.finditer(page)
              if "src=" not in m["attrs"] and "text/template" not in m["attrs"]]
    # Its base template writes exactly one, starting with its settings: a page with any other
    # (an injected one) gets no inline script at all, not a hash for the intruder.
    scripts = {_sha256(inline[0])} if len(inline) == 1 and inline[0].lstrip().startswith(
        "var POLL_INTERVAL") else set()
    styles = {_sha256(html.unescape(a or b)) for a, b in _STYLE_ATTR.findall(page)}
    response.headers["Content-Security-Policy"] = DASHBOARD_CSP.format(
        scripts=" ".join(sorted(scripts)), styles=" ".join(sorted(styles)))
    return response


def audit_action(response):
    """Every state change that passed the guard, with its outcome, under who did it and from where."""
    who = g.get("admin_who")
    if who and request.method not in SAFE_METHODS:
        from bot.console import security

        name = (request.endpoint or "").rsplit(".", 1)[-1]
        args = defaultdict(str, {k: str(v)[:80] for k, v in (request.view_args or {}).items()})
        what = ACTIONS.get(name, name).format_map(args)
        try:
            security.console().audit.record(who, "queue action", f"{what}: {response.status_code}")
        except UNAVAILABLE as exc:  # the action's own answer still goes out; the log says why
            log.error("audit: could not record a queue action (%s): %s", what,
                      type(exc).__name__)
    return response


def _password_refusal(password: str, security):
    """None when the basic-auth password is right; else the sign-in page, 401 or 429."""
    if not password:
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        abort(401, description="Sign in to the console as an admin.")
    c = security.console()
    wait = c.lockout.address_wait(c.clock(), MAX_WRONG_PASSWORDS)
    if wait:
        return Response("429 Too Many Requests: too many wrong admin passwords; wait "
                        f"{wait} s.\n", status=429, mimetype="text/plain",
                        headers={"Retry-After": str(wait)})
    if not password_matches(request.authorization, password):
        if request.authorization is not None:
            c.lockout.failed(None, c.clock())
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
