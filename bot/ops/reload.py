"""Edits that running processes follow without a restart: content and flows, and the sites.

Two version keys in Redis (bot/storage/keys.py): the sites' (bumped at each live change of a
site) and the content's, CONTENT_VERSION_KEY, bumped by request() once `flows check` and
`content check` pass on the files on disk (the console's "Reload" runs check_files first).
Every web process looks at both with one MGET at most once a second, after a reply is sent;
every worker before each job. When the content version moved, the process builds a new
Helpline from the files and swaps it in (reload_app); when only the sites moved, it reloads its
copy of the sites. A build that fails keeps the helpline in hand and logs why: a broken edit
never takes the service down. A signal or command that reloads one process can call
reload_app, or request() to move every process.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime, timezone

import redis

from bot.conversation.checks import check_content
from bot.conversation.content import Content, ContentError
from bot.storage.keys import CONTENT_RELOAD_KEY, CONTENT_VERSION_KEY, sites_version_key

log = logging.getLogger(__name__)
CHECK_EVERY = 1.0  # seconds between two looks at the versions, per process
ATTACH = "helpline_attach"  # app.extensions: fn(app, helpline) for each part built on a helpline
BUILD = "helpline_build"    # app.extensions: the composition root's build(settings, client)


def request(client: redis.Redis, who: str, now: datetime | None = None) -> int:
    """Ask every process to load the content and flows from disk again; the new version."""
    now = now or datetime.now(timezone.utc)
    version = int(client.incr(CONTENT_VERSION_KEY))
    client.hset(CONTENT_RELOAD_KEY, mapping={"version": version, "who": who,
                                             "at": now.isoformat(timespec="seconds")})
    return version


def last(client: redis.Redis) -> dict:
    """The last reload asked for: version, who, at ({} if none)."""
    return {k.decode(): v.decode() for k, v in client.hgetall(CONTENT_RELOAD_KEY).items()}


def check_files(settings, client: redis.Redis, build, checks=()) -> tuple[object | None, list[str]]:
    """A helpline built from the files on disk (`build`: bot.helpline.build, passed in because
    ops sits below the composition root), and every problem `flows check` and `content check`
    find in them (([], None) when the files do not even load). `checks`: the content checks the
    running app registered beyond the build's own (the phone line's, from its attach)."""
    try:
        fresh = build(settings, client)
    except Exception as exc:  # a broken file: the error names it (flows.py, content.py)
        return None, _named(settings) or [f"{type(exc).__name__}: {exc}"]
    _, errors = check_content(fresh.content, fresh.flow)
    extras = list(fresh.extras.get("content_checks", []))
    extras += [c for c in checks if c not in extras]
    for extra in extras:
        try:
            errors += list(extra(fresh))
        except Exception as exc:
            errors.append(f"{getattr(extra, '__name__', 'check')}: {type(exc).__name__}: {exc}")
    return fresh, errors


def _named(settings) -> list[str]:
    """Template errors with their file and key (a build stops at the first, unnamed)."""
    try:
        content = Content(settings.content_dir, settings.default_locale)
    except Exception as exc:   # a file that is not YAML: ContentError names it
        return [str(exc)]
    found = []
    for locale in content.locales:
        for key in sorted(content.entries[locale]):
            for channel in ("sms", "voice"):
                try:
                    content.template(key, locale, channel)
                except ContentError as exc:
                    found.append(str(exc))
    return sorted(set(found))


class Follower:
    """One process's view of the two versions. `current()` is the helpline in use; `swap()`
    builds a new one from the files and puts it in use (True when it did)."""

    def __init__(self, current, swap, check_every: float = CHECK_EVERY, clock=time.monotonic):
        self.current, self.swap = current, swap
        self.check_every, self.clock = check_every, clock
        self.content_version: int | None = None
        self._looked = -math.inf
        self._lock = threading.Lock()

    def start(self) -> "Follower":
        """The content version the helpline in use was built from (read before its files)."""
        self.content_version = self.current().content_version
        return self

    def maybe(self, force: bool = False) -> None:
        """At most once a `check_every`: one MGET of both versions, then follow them."""
        now = self.clock()
        if not force and now - self._looked < self.check_every:
            return
        self._looked = now
        helpline = self.current()
        try:
            raw_sites, raw_content = helpline.redis.mget(
                sites_version_key(helpline.settings.region), CONTENT_VERSION_KEY)
        except (redis.RedisError, OSError):
            return  # Redis trouble: keep what is in hand
        content = int(raw_content or 0)
        if self.content_version is None:
            self.content_version = content
        if content != self.content_version:
            self.reload(content)
        elif helpline.sites is not None:
            helpline.sites.follow(int(raw_sites or 0))

    def reload(self, version: int) -> bool:
        """Build the helpline again from the files and swap it in; False if it failed."""
        if not self._lock.acquire(blocking=False):
            return False  # another request of this process is on it
        try:
            started = time.monotonic()
            try:
                ok = self.swap()
            except Exception:
                log.exception("content reload failed; still answering with the content loaded "
                              "before")
                ok = False
            else:
                log.info("content and flows reloaded (version %s) in %.2f s", version,
                         time.monotonic() - started)
            self.content_version = version  # a failed build is not retried at every request
            return ok
        finally:
            self._lock.release()


def reload_app(app, new=None) -> bool:
    """A new Helpline from the files (or `new`, already built and checked), attached to the
    app's parts, then made current. Raises what the build raised (the Follower logs it and
    keeps the old one)."""
    old = app.config["HELPLINE"]
    new = new or app.extensions[BUILD](old.settings, old.redis)
    for attach in app.extensions.get(ATTACH, []):
        attach(app, new)
    app.config["HELPLINE"] = new
    return True


def init_app(app, build, attach=()) -> Follower:
    """Follow both versions after each answered request, once its response is sent: a request
    refused (a forged signature, a bad form) never reaches Redis, and no reply waits on a
    reload. `build`: the composition root's build(settings, client); `attach`: fn(app, helpline)
    for each part of the app built on a helpline (calls, the console), run again for a reloaded
    one."""
    app.extensions[BUILD] = build
    app.extensions.setdefault(ATTACH, []).extend(attach)
    follower = Follower(lambda: app.config["HELPLINE"], lambda: reload_app(app)).start()
    app.extensions["reload"] = follower

    def after(response):
        if response.status_code < 400:
            response.call_on_close(follower.maybe)
        return response

    app.after_request(after)
    return follower
