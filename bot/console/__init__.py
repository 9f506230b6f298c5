"""The operator console under /console: staff sign-in, dashboard, content, flow map, simulator,
places, audit log, the staffed text inbox. Server-rendered (Jinja2), with one small script and one style sheet shipped
in bot/console/static (no CDN, no build step). docs/console.md is the operator's guide.

Modules: keys (Redis key names), accounts (staff, passwords, second factor), audit, security
(session, headers, roles), lockout (sign-in throttling), auth (sign-in pages), cli (`flask staff
...`), usage (anonymous counters), dashboard and charts, catalogue (messages), reload_views
(Reload after an edit), flowmap, simulator and fastforward, sites_views and site_forms (the
naloxone sites), staff_views (staff and audit), inbox_views (the staffed text inbox, bot/inbox/).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import redis
from flask import Blueprint, Flask, g, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

from bot.console import security
from bot.storage.connection import connect

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
csrf = CSRFProtect()
# The console's own Redis client waits at most this long per try, with one immediate retry, so a
# page answers "storage unavailable" within about a second when Redis is down, hung or slow.
REDIS_TIMEOUT = 0.3
UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@dataclass
class ConsoleState:
    helpline: object
    redis: object
    vault: object
    accounts: object
    audit: object
    idle_minutes: int
    lockout: object = None
    extras: dict = field(default_factory=dict)
    clock: Callable[[], float] = time.time  # sign-in delays; tests move it instead of sleeping


def init_app(app: Flask, helpline) -> None:
    """Mount /console, its CSRF checks and headers, the usage counters and `flask staff`."""
    from bot.console import (auth, cli, inbox_views, pages, reload_views,  # noqa: F401
                             simulator_views, sites_views, staff_views, usage)
    from bot.console.accounts import Accounts
    from bot.console.audit import Audit
    from bot.console.lockout import Lockout

    security.configure(app, helpline.settings)
    csrf.init_app(app)
    fast = connect(helpline.settings, REDIS_TIMEOUT, retries=1)  # fail fast: see unavailable()
    app.extensions["console"] = ConsoleState(
        helpline, fast, helpline.vault, Accounts(fast, helpline.settings.secret), Audit(fast),
        helpline.settings.console_idle_minutes, Lockout(fast, helpline.vault))
    attach(app, helpline)
    inbox = helpline.extras.get("inbox")
    if inbox is not None:  # inbox actions are audited by the staff member's name
        inbox.desk.record = app.extensions["console"].audit.record
    app.register_blueprint(bp)
    app.after_request(_headers)
    app.register_error_handler(404, _not_found)
    if not helpline.settings.is_development:
        app.after_request(security.transport_security)
    app.after_request(usage.count_call)
    app.cli.add_command(cli.staff)


def attach(app: Flask, helpline) -> None:
    """What the console needs from a helpline: at start, and again at each content reload
    (bot/ops/reload.py), when pages built from the old one (messages, simulator) are dropped."""
    from bot.console import usage

    state = app.extensions["console"]
    state.helpline = helpline
    state.extras.pop("catalogue", None)
    state.extras.pop("simulator", None)
    usage.install(helpline)
    if helpline.sites is not None and helpline.sites.registry is not None:
        helpline.sites.registry.audit = state.audit.record  # site changes in the staff audit log


UPLOAD_MAX = 5 * 2_000_000  # an HSDS import: five CSV files of up to 2 MB (bot/places/hsds.py)


@bp.before_request
def _csrf():
    from flask import request

    if request.endpoint == "console.import_hsds":  # the one form with files: more than 64 KB
        request.max_content_length = UPLOAD_MAX
    csrf.protect()  # every POST of the console carries the session's token


def _headers(response):
    """Console and admin pages, errors and 404s included: no framing, strict CSP, no caching."""
    from flask import request

    if request.path.startswith(("/console", "/admin/")):
        return security.headers(response)
    return response


@bp.errorhandler(401)
@bp.errorhandler(403)
@bp.errorhandler(404)
@bp.errorhandler(429)
def _refused(error):
    return render_template("console/error.html", status=error.code,
                           message=error.description), error.code


def _not_found(error):
    """A console address that does not exist gets the console's page (title, language, a way
    back); elsewhere, Flask's own 404."""
    from flask import request

    if request.path.startswith("/console"):
        return _refused(error)
    return error


@bp.errorhandler(CSRFError)
def _csrf_refused(error):
    return render_template("console/error.html", status=400,
                           message="This form has expired or did not come from the console. "
                                   "Go back, reload the page and try again."), 400


@bp.app_template_filter("timestamp")
def _timestamp(seconds) -> str:
    """A Unix time as 'YYYY-MM-DD HH:MM' UTC."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(float(seconds), timezone.utc).strftime("%Y-%m-%d %H:%M")


@bp.app_template_filter("letter")
def _letter(rank) -> str:
    """A place's rank in a places reply as the texter saw it: 2 -> 'B' (bot/places/nearby.py)."""
    from bot.places.nearby import label

    return label(int(rank))


@bp.app_template_filter("field")
def _field(value) -> str:
    """A site field as people read it: '—' for none, lists joined, yes/no."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v).replace("_", " ") for v in value)
    return str(value)


@bp.errorhandler(redis.exceptions.ConnectionError)
@bp.errorhandler(redis.exceptions.TimeoutError)
def unavailable(error):
    """Redis refused, hung or timed out: a page that says so (503), never raw JSON or a wait.
    Also the RQ dashboard's handler (bot/console/queues.py)."""
    g.staff = None  # the page's menu must not ask Redis who is signed in
    page = render_template("console/error.html", status=503, title="Storage unavailable",
                           message="The console cannot reach its storage (Redis) just now. "
                                   "Texts and calls are still answered with the emergency "
                                   "steps. Try again in a minute; if this lasts, check Redis "
                                   "(flask --app wsgi doctor).")
    return page, 503, {"Retry-After": "30"}


@bp.app_context_processor
def _staff():
    return {"staff": security.current_staff}
