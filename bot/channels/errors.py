"""Every failure gets a clear answer: a 4xx with its reason, or, on a Twilio webhook, the safe reply."""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
TWILIO_PATHS = ("/sms", "/voice")


def _safe_twiml() -> Response:
    """The emergency steps and menu hint: what a person must get even when our code fails."""
    helpline = current_app.config["HELPLINE"]
    if request.path.startswith("/voice") and "voice_fallback" in helpline.extras:
        return helpline.extras["voice_fallback"]()
    from bot.channels.sms import twiml
    return twiml([helpline.safe_sms()])


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code and exc.code >= 500 and request.path.startswith(TWILIO_PATHS):
            return _safe_twiml()
        return Response(f"{exc.code} {exc.name}: {exc.description}\n", status=exc.code,
                        mimetype="text/plain")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.error("unhandled %s on %s", type(exc).__name__, request.path, exc_info=exc)
        if request.path.startswith(TWILIO_PATHS) and request.method == "POST":
            return _safe_twiml()
        return jsonify(error="internal error", detail="the helpline logged it"), 500
