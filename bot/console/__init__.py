"""The operator console under /console: staff sign-in, dashboard, content, flow map, simulator,
places, audit log. Server-rendered (Jinja2), with one small script and one style sheet shipped
in bot/console/static (no CDN, no build step). docs/console.md is the operator's guide.

Modules: keys (Redis key names), accounts (staff, passwords, second factor, audit), security
(session, headers, throttling, roles), auth (sign-in pages), cli (`flask staff ...`), usage
(anonymous counters), dashboard and charts, catalogue (messages), reload_views (Reload after an
edit), flowmap, simulator and fastforward, sites_views and site_forms (the naloxone sites).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

from bot.console import security

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
csrf = CSRFProtect()


@dataclass
class ConsoleState:
    helpline: object
    redis: object
    vault: object
    accounts: object
    audit: object
    idle_minutes: int
    extras: dict = field(default_factory=dict)


def init_app(app: Flask, helpline) -> None:
    """Mount /console, its CSRF checks and headers, the usage counters and `flask staff`."""
    from bot.console import (auth, cli, pages, reload_views, simulator_views,  # noqa: F401
                             sites_views, usage)
    from bot.console.accounts import Accounts, Audit

    security.configure(app, helpline.settings)
    csrf.init_app(app)
    app.extensions["console"] = ConsoleState(
        helpline, helpline.redis, helpline.vault, Accounts(helpline.redis, helpline.settings.secret),
        Audit(helpline.redis), helpline.settings.console_idle_minutes)
    attach(app, helpline)
    app.register_blueprint(bp)
    app.after_request(_headers)
    app.register_error_handler(404, _not_found)
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

    if request.path.startswith("/console"):
        return security.headers(response)
    if request.path.startswith("/admin/"):
        return security.headers(response, security.ADMIN_CSP)
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


@bp.app_context_processor
def _staff():
    return {"staff": security.current_staff}
