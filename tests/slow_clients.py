"""Clients that trickle a request body, one byte at a time, to a server on this machine only.

The attack from issue 19: each connection sends a complete signed-looking head with a declared
body, then a byte every `interval` seconds, and opens a new connection whenever the server
ends one, so `count` connections are always in play. Used by tests/test_hardening_web.py and
bench/slow_clients.py. It refuses any host but the loopback and stops when told to.
"""
from __future__ import annotations

import selectors
import socket
import threading

HEAD = ("POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 4000\r\nX-Twilio-Signature: slow\r\n\r\n").encode()


class Trickle:
    """`count` slow connections to 127.0.0.1:port, kept up in a background thread."""

    def __init__(self, port: int, count: int, interval: float = 1.0, source: str = "127.0.0.1"):
        if not source.startswith("127."):
            raise ValueError("slow clients only ever come from the loopback")
        self.port, self.count, self.interval, self.source = port, count, interval, source
        self.ended = 0  # connections the server ended (a 408, a reset): each is re-opened
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)

    def __enter__(self) -> "Trickle":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=2,
                                            source_address=(self.source, 0))
            sock.sendall(HEAD)
            sock.setblocking(False)
            return sock
        except OSError:
            return None

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        live: set[socket.socket] = set()
        try:
            while not self._stop.is_set():
                while len(live) < self.count and not self._stop.is_set():
                    sock = self._open()
                    if sock is None:
                        break
                    live.add(sock)
                    selector.register(sock, selectors.EVENT_READ)
                # An answer (the 408) or a closed connection: end it, a new one takes its place.
                for key, _ in selector.select(timeout=0):
                    self._end(selector, live, key.fileobj)
                for sock in list(live):
                    try:
                        sock.send(b"x")
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        self._end(selector, live, sock)
                self._stop.wait(self.interval)
        finally:
            for sock in list(live):
                selector.unregister(sock)
                sock.close()
            selector.close()

    def _end(self, selector, live: set, sock) -> None:
        if sock in live:
            live.discard(sock)
            selector.unregister(sock)
            sock.close()
            self.ended += 1
