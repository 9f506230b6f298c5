"""The sites each process answers from: a copy of the registry, reloaded when its version moves.

Why a copy: a text must be answered in milliseconds, so the /sms hot path never reads the sites
from Redis. Each process looks at one small key (the version) at most once a second, from a
request hook or between worker jobs (refresh), and reads every site again only when it moved. A
process that changed the sites itself refreshes at once. Until Redis answers, the region's file
is the list. `at(now)` is what may be offered that day: active, and verified within
SITES_VERIFY_MAX_DAYS.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timezone

import redis

from bot.places.locator import Locator
from bot.places.registry import Registry
from bot.places.sites import REGIONS, Site

log = logging.getLogger(__name__)
CHECK_EVERY = 1.0  # seconds between two looks at the version key, per process
WARN_DAYS = 30     # the console warns this many days before a site stops being offered


class LiveSites:
    def __init__(self, base: Locator, registry: Registry | None, max_days: int,
                 check_every: float = CHECK_EVERY, clock=time.monotonic):
        self.base, self.registry, self.max_days = base, registry, max_days
        self.check_every, self.clock = check_every, clock
        self._all = base                      # every site, whatever its status
        self._version: int | None = None
        self._offered: tuple = (None, None, None)   # (day, the copy it came from, Locator)
        self._looked = -math.inf

    @property
    def all(self) -> Locator:
        """Every site of the registry (the console lists them all, with their status)."""
        return self._all

    @property
    def version(self) -> int | None:
        return self._version

    def refresh(self, force: bool = False) -> bool:
        """Reload the sites if the registry's version moved; True when it did. Redis trouble
        keeps the copy in hand: places are still answered."""
        if self.registry is None:
            return False
        now = self.clock()
        if not force and now - self._looked < self.check_every:
            return False
        self._looked = now
        try:
            return self.follow(self.registry.version())
        except (redis.RedisError, OSError) as exc:
            log.warning("places: could not read the sites, answering from the copy in hand: %s",
                        type(exc).__name__)
            return False

    def follow(self, version: int | None) -> bool:
        """Reload when `version` (read by the caller, e.g. with the content's in one MGET) is not
        the copy's. The version is read before the sites, so the sites are at least that new."""
        if self.registry is None or version is None or version == self._version:
            return False
        try:
            sites = self.registry.sites() if version else None   # 0: never seeded, the file
        except (redis.RedisError, OSError) as exc:
            log.warning("places: could not read the sites, answering from the copy in hand: %s",
                        type(exc).__name__)
            return False
        self._all = self.base.with_sites(sites) if sites is not None else self.base
        self._version = version
        return True

    def at(self, now: datetime) -> Locator:
        """The sites that may be offered on `now`'s day (a Locator over them)."""
        day = now.astimezone(timezone.utc).date()
        when, source, found = self._offered
        current = self._all
        if when != day or source is not current:
            found = current.with_sites([s for s in current.sites if s.offered(day, self.max_days)])
            self._offered = (day, current, found)
        return found

    def today(self) -> Locator:
        return self.at(datetime.now(timezone.utc))

    def content_globals(self) -> dict:
        """The names area screens use (`sites.twin_cities`, `tribal_sites`), read live."""
        return {"sites": _ByRegion(self), "tribal_sites": _Tribal(self)}


class _ByRegion(Mapping):
    """`sites.north` in a template: the north's sites offered today."""

    def __init__(self, live: LiveSites):
        self._live = live

    def __getitem__(self, region: str) -> list[Site]:
        if region not in REGIONS:
            raise KeyError(region)
        return [s for s in self._live.today().sites if s.region == region]

    def __iter__(self) -> Iterator[str]:
        return iter(REGIONS)

    def __len__(self) -> int:
        return len(REGIONS)


class _Tribal:
    """`tribal_sites` in a template: the Native-led agencies offered today."""

    def __init__(self, live: LiveSites):
        self._live = live

    def __iter__(self) -> Iterator[Site]:
        return iter(self._live.today().tribal_sites())

    def __len__(self) -> int:
        return len(self._live.today().tribal_sites())
