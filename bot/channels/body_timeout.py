"""A request body must arrive within a few seconds, or the connection gets a 408.

Why: a gevent worker holds at most GUNICORN_WORKER_CONNECTIONS connections. gunicorn bounds
the wait for a request's head (its keepalive timeout) but not for its body, so a client that
sends a declared body one byte every few seconds held a slot for as long as it liked, and a
couple of hundred of them left no slot for an emergency text. This layer reads the whole body
first, under one deadline for all of it (not per read: a byte every 3 s never trips a per-read
timeout), into a buffer the app then reads as usual. Twilio sends its form in one go, well
within the deadline. A reverse proxy that buffers bodies (deploy/nginx.conf) removes the
problem before it reaches gunicorn; this is the guard for a gunicorn that faces clients itself.

Only under gevent: a sync worker cannot be interrupted this way (docs/security-and-resilience.md).
"""
from __future__ import annotations

import io
import logging
import socket

log = logging.getLogger(__name__)
READ_LIMIT = 64 * 1024 + 1  # one byte past MAX_CONTENT_LENGTH: Flask then answers 413
CHUNK = 8192
_TIMEOUT_BODY = b"408 Request Timeout: the request body did not arrive in time.\n"


def _gevent_timeout():
    """gevent.Timeout when this process runs on gevent's patched sockets, else None."""
    try:
        from gevent import Timeout, monkey
    except ImportError:
        return None
    return Timeout if monkey.is_module_patched("socket") else None


class ReadBodyInTime:
    """WSGI middleware: the body in full within `seconds`, else 408 (and the connection ends)."""

    def __init__(self, wsgi_app, seconds: float):
        self.wsgi_app, self.seconds = wsgi_app, seconds
        self._timeout = _gevent_timeout() if seconds > 0 else None

    def __call__(self, environ, start_response):
        if self._timeout is None or not self._has_body(environ):
            return self.wsgi_app(environ, start_response)
        length = environ.get("CONTENT_LENGTH") or ""
        wanted = int(length) if length.isdigit() else None
        if wanted is not None and wanted >= READ_LIMIT:
            return self.wsgi_app(environ, start_response)  # Flask refuses it unread (413)
        try:
            with self._timeout(self.seconds):
                body = _read(environ["wsgi.input"], READ_LIMIT if wanted is None else wanted)
        except self._timeout:
            log.warning("request body on %s not received within %ss: 408",
                        environ.get("PATH_INFO", "?"), self.seconds)
            _stop_reading(environ)
            start_response("408 Request Timeout", [("Content-Type", "text/plain"),
                                                   ("Content-Length", str(len(_TIMEOUT_BODY))),
                                                   ("Connection", "close")])
            return [_TIMEOUT_BODY]
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input_terminated"] = True
        environ.pop("HTTP_TRANSFER_ENCODING", None)  # now a plain body of known length
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _has_body(environ) -> bool:
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
        return chunked or (length.isdigit() and int(length) > 0)


def _stop_reading(environ) -> None:
    """gunicorn would drain the rest of the body for keep-alive (as slowly as it comes): end
    the connection's reading side instead, so the slot is free once the 408 is written."""
    sock = environ.get("gunicorn.socket")
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass


def _read(stream, limit: int) -> bytes:
    """Up to `limit` bytes, or fewer when the body ends first."""
    parts, left = [], limit
    while left > 0:
        data = stream.read(min(CHUNK, left))
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)
