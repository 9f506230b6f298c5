"""Opioid overdose prevention helpline: the Flask app factory.

bot/ holds the factory, the settings (config.py), the composition root (helpline.py) and one
package per capability; docs/architecture.md draws the layers. No work happens at import time.
"""
from __future__ import annotations

from flask import Flask

from bot import legacy
from bot.config import Settings, load_settings

legacy.install()  # jobs queued under the old module names still run (bot/legacy.py)


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    """Build the web app: settings, Redis, the helpline objects, blueprints, CLI commands."""
    from bot import helpline
    from bot import console
    from bot.console import queues
    from bot.checkins import cli as checkin_cli
    from bot.places import cli as places_cli
    from bot.ops import cli
    from bot.channels import errors
    from bot.ops import metrics
    from bot.ops import reload
    from bot.ops import health as ops
    from bot.ops import logs as web_logging
    from bot.channels import sms, twilio_auth, voice
    from bot.understanding import cli as understanding_cli

    settings = settings or load_settings(**overrides)
    web_logging.configure(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.config["MAX_FORM_MEMORY_SIZE"] = 64 * 1024
    app.config["MAX_FORM_PARTS"] = twilio_auth.MAX_FORM_FIELDS  # multipart (urlencoded: there)
    app.config["HELPLINE"] = helpline.build(settings)
    app.extensions["helpline.factory"] = create_app  # `flask call` builds a signing twin
    if settings.trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trust_proxy,
                                x_proto=settings.trust_proxy, x_host=settings.trust_proxy)
    web_logging.init_app(app)
    metrics.init_app(app)
    app.register_blueprint(sms.bp)
    voice.init_app(app)
    app.register_blueprint(ops.bp)
    console.init_app(app, app.config["HELPLINE"])
    queues.init_app(app, app.config["HELPLINE"])  # RQ's dashboard, behind the console's admins
    errors.init_app(app)
    reload.init_app(app, helpline.build, attach=(voice.attach, console.attach))
    cli.init_app(app)
    checkin_cli.init_app(app)
    places_cli.init_app(app)
    understanding_cli.init_app(app, blind=helpline.blind_runner(app.config["HELPLINE"]))
    return app
