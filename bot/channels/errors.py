"""Every failure gets a clear answer: a 4xx with its reason, or, on a Twilio webhook, the safe reply."""
from __future__ import annotations

import logging
import sys

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from bot.places.locator import FATAL

log = logging.getLogger(__name__)
TWILIO_PATHS = ("/sms", "/voice")


def _safe_twiml() -> Response:
    """The emergency steps and menu hint: what a person must get even when our code fails."""
    helpline = current_app.config["HELPLINE"]
    if request.path.startswith("/voice") and "voice_fallback" in helpline.extras:
        return helpline.extras["voice_fallback"]()
    from bot.channels.sms import twiml
    return twiml([helpline.safe_sms()])


class ContainFailures:
    """The outermost WSGI layer: whatever escapes Flask (its handlers catch Exception only, so a
    BaseException such as pyo3's PanicException from compiled code would end the worker and
    every text it was answering) becomes the safe reply for that one request, logged."""

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app, self.app = wsgi_app, app

    def __call__(self, environ, start_response):
        try:
            return self.wsgi_app(environ, start_response)
        except FATAL:
            raise
        except BaseException as exc:  # noqa: B036 - the point of this layer
            log.error("contained %s escaping the app on %s", type(exc).__name__,
                      environ.get("PATH_INFO", "?"))
            info = sys.exc_info()
        try:
            with self.app.request_context(environ):
                response = (_safe_twiml() if request.path.startswith(TWILIO_PATHS)
                            and request.method == "POST" else
                            Response('{"error": "internal error"}\n', status=500,
                                     mimetype="application/json"))
        except Exception as exc:  # noqa: BLE001 - the content itself failed: a fixed reply
            log.error("safe reply failed too: %s", type(exc).__name__)
            response = Response("500 Internal Server Error\n", status=500, mimetype="text/plain")
        # start_response may have been called already: exc_info lets it replace the headers.
        return response(environ, lambda status, headers, _=None: start_response(
            status, headers, info))


def init_app(app: Flask) -> None:
    from bot.channels.body_timeout import ReadBodyInTime

    settings = app.config["HELPLINE"].settings
    app.wsgi_app = ContainFailures(ReadBodyInTime(app.wsgi_app, settings.body_read_timeout),
                                   app)
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
