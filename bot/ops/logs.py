"""Logging set-up: readable in development, one JSON object per line in production, numbers masked.

Every line logged while a request is handled carries its request id: Twilio's
I-Twilio-Idempotency-Token (the same on each retry of one webhook), else X-Request-Id, else a
fresh one; the response echoes it in X-Request-Id so an operator can match the two.
"""
from __future__ import annotations

import logging
import os
import re
import sys
from contextvars import ContextVar
from typing import TextIO

from flask import Flask, g, request
from gunicorn.glogging import Logger as GunicornBaseLogger

from bot.config import Settings

# An unbroken run of 10-15 digits (E.164 as Twilio sends it), a US number in its usual groups,
# or "+" and groups; a run of digits and spaces like "port 39585 (pid 19586)" is not a number,
# nor are digits inside a hex id (RQ worker and job names).
PHONE = re.compile(r"(?:(?<=%2B)|(?<![0-9A-Za-z]))(?:\+?\d{10,15}|(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}"
                   r"|\+\d{1,3}(?:[\s.-]\(?\d{1,5}\)?){2,5})(?![0-9A-Za-z])")
NOT_A_PHONE = re.compile(r"\d{4}-\d\d-\d\d|\d{1,3}(\.\d{1,3}){3}$")  # ISO dates, IPv4 addresses
SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ID_HEADERS = ("I-Twilio-Idempotency-Token", "X-Request-Id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}

_request_id: ContextVar[str] = ContextVar("request_id", default="-")


def mask_text(text: str) -> str:
    """Mask every phone-like run of 10 to 15 digits; dates and IP addresses stay readable."""
    return PHONE.sub(lambda m: _mask(m.group()), text)


def _mask(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if not 10 <= len(digits) <= 15 or NOT_A_PHONE.match(text):
        return text
    head = "+" + digits[:1] if text.startswith("+") or len(digits) > 10 else ""
    return head + "*" * (len(digits) - len(head.lstrip("+")) - 4) + digits[-4:]


class RedactNumbers(logging.Filter):
    """Last line of defence: phone-like digits in the message, extras and tracebacks are masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = mask_text(record.getMessage()), None
        except (TypeError, ValueError):  # a broken format string: mask the template, keep going
            record.msg, record.args = mask_text(str(record.msg)), None
        if record.exc_info:  # format once, masked, so no formatter prints the raw traceback
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_text(value))
        return True


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class RequestId(logging.Filter):
    """Stamp each record with the id of the request being handled ('-' outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def current_request_id() -> str:
    return _request_id.get()


def json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter
    return JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES)


def build_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """A handler that masks numbers and adds the request id, as JSON lines or readable text."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestId())
    handler.addFilter(RedactNumbers())
    return handler


def configure(settings: Settings) -> None:
    root = logging.getLogger()
    if getattr(root, "_helpline_configured", False):
        return
    root.addHandler(build_handler(settings.log_format))
    root.setLevel(logging.INFO)
    # twilio's client logs every request's headers and parameters at INFO: noise at best,
    # recipients at worst (masked by the filter, but better never written).
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    root._helpline_configured = True


def init_app(app: Flask) -> None:
    """Give every request an id for its log lines and echo it back in X-Request-Id."""
    app.before_request(_begin)
    app.after_request(_echo)
    app.teardown_request(_end)


def pick_request_id(headers) -> str:
    """Twilio's idempotency token or the caller's X-Request-Id when they look like ids, else new."""
    for name in ID_HEADERS:
        value = headers.get(name, "")
        if SAFE_ID.fullmatch(value) and mask_text(value) == value:
            return value
    return os.urandom(16).hex()  # as random as uuid4().hex, the same 32 characters


def _begin() -> None:
    g.request_id_token = _request_id.set(pick_request_id(request.headers))


def _echo(response):
    response.headers["X-Request-Id"] = _request_id.get()
    return response


def _end(exc=None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        _request_id.reset(token)


def log_format_from_env(env=None) -> str:
    """The same rule as bot.config: JSON when LOG_FORMAT=json or, unset, in production."""
    env = os.environ if env is None else env
    mode = (env.get("HELPLINE_ENV") or "development").strip().lower()
    return (env.get("LOG_FORMAT") or ("json" if mode == "production" else "text")).lower()


class GunicornLogger(GunicornBaseLogger):
    """gunicorn's own lines (boot, worker exits) in the same format as the app's, numbers masked."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        as_json = log_format_from_env() == "json"
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                if as_json:
                    handler.setFormatter(json_formatter())
                handler.addFilter(RequestId())
                handler.addFilter(RedactNumbers())
