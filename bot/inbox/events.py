"""Live updates for the console: every change to a ticket bumps a version and is published on
a Redis pub/sub channel; the console's server-sent-events stream relays it to each open page.

Pub/sub channels belong to the server, not to a database, so the channel's name is random and
kept in the database (INBOX_CHANNEL_KEY): two helplines, or two test runs, on one server each
hear only their own. A message carries the version, what changed and the ticket number: never
a text, a name of a texter or a number. A page that missed messages (it was reconnecting)
learns from the version in its Last-Event-ID that something changed while it was away.

The stream is bounded (`seconds`) and the browser reconnects (EventSource does, after `retry`):
each reconnect passes the console's sign-in check again, and a worker that serves streams is
never held for ever. Under a sync gunicorn worker, which serves one request at a time, the
stream answers at once (seconds=0) and the page asks again after RETRY_SLOW_MS: a slow poll of
one small request, instead of a worker taken for the length of a stream (docs/inbox.md).
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Iterator

import redis

from bot.inbox import scripts
from bot.storage.keys import INBOX_CHANNEL_KEY, INBOX_VERSION_KEY, inbox_channel

log = logging.getLogger(__name__)
KEEPALIVE = 15        # seconds between comments on a quiet stream (proxies, dead clients)
RETRY_MS = 2000       # reconnect soon after a bounded stream ends
RETRY_SLOW_MS = 10000  # where streams cannot be held: ask again after this long


class Events:
    """Publish changes (any process: web, worker) and stream them (the web's SSE endpoint)."""

    def __init__(self, client: redis.Redis):
        self.redis = client
        self._notify = client.register_script(scripts.NOTIFY)

    def notify(self, what: str, ticket: int | str | None = None) -> int | None:
        """Tell every open console page that `ticket` changed; never fails the caller."""
        payload = json.dumps({"what": what, "ticket": int(ticket) if ticket else None})[:-1]
        try:
            return int(self._notify(keys=[INBOX_CHANNEL_KEY, INBOX_VERSION_KEY],
                                    args=[secrets.token_hex(8), inbox_channel(""), payload]))
        except redis.RedisError as exc:
            log.warning("inbox: could not publish a change: %s", type(exc).__name__)
            return None

    def version(self) -> int:
        return int(self.redis.get(INBOX_VERSION_KEY) or 0)

    def channel(self) -> str:
        pipe = self.redis.pipeline()
        pipe.set(INBOX_CHANNEL_KEY, secrets.token_hex(8), nx=True)
        pipe.get(INBOX_CHANNEL_KEY)
        return inbox_channel(pipe.execute()[1].decode())

    def stream(self, last_seen: str | None, seconds: float,
               clock=time.monotonic) -> Iterator[str]:
        """Server-sent events: `change` with the version as its id, comments to keep alive."""
        retry = RETRY_MS if seconds > 0 else RETRY_SLOW_MS
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True) if seconds > 0 else None
        try:
            if pubsub is not None:
                pubsub.subscribe(self.channel())  # before the version is read: nothing slips by
            current = self.version()
            yield f"retry: {retry}\n\n"
            if last_seen is None:  # a page as yet unknown: remember the version, change nothing
                yield f"id: {current}\n\n"
            elif last_seen != str(current):  # changed while this page was (re)connecting
                yield _event(current, {"what": "missed"})
            quiet_since = clock()
            deadline = quiet_since + seconds
            while pubsub is not None and clock() < deadline:
                now = clock()
                wait = max(0.0, min(deadline - now, quiet_since + KEEPALIVE - now))
                message = pubsub.get_message(timeout=wait)  # None: timed out, or a confirmation
                if message is None:
                    if clock() - quiet_since >= KEEPALIVE:
                        yield ": keepalive\n\n"
                        quiet_since = clock()
                    continue
                data = json.loads(message["data"])
                yield _event(data.get("v", 0), data)
                quiet_since = clock()
        except redis.RedisError as exc:  # Redis went away: end the stream, the page reconnects
            log.info("inbox: an event stream ended early: %s", type(exc).__name__)
        finally:
            if pubsub is not None:
                pubsub.close()


def _event(version: int, data: dict) -> str:
    return f"id: {version}\nevent: change\ndata: {json.dumps(data)}\n\n"
