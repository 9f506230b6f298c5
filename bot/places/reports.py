"""Texters' "WRONG B": a report that a site we named is wrong or closed, in a review queue.

The engine hook (nearby.py) emits a `site_report` event naming only the site; this files it after
the step commits. A report holds the site, its name then, the day, the language and the place of
the site in the list: never the number, its hash, or anything the person wrote. Editors see the
queue in the console (/console/places/review) and close each report as fixed or dismissed.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime

import redis

from bot.places.nearby import REPORT
from bot.storage import keys

log = logging.getLogger(__name__)
MAX_OPEN = 5000  # a flood of reports cannot fill Redis: past this, new ones are counted only


class Reports:
    def __init__(self, client: redis.Redis, region: str):
        self.redis, self.region = client, region
        self.key = keys.site_reports_key(region)

    def file(self, site_id: str, name: str, locale: str, rank: int, now: datetime) -> str | None:
        """Add a report; its id, or None when the queue is full."""
        if self.redis.hlen(self.key) >= MAX_OPEN:
            log.warning("places: the review queue is full; a WRONG report was not kept")
            return None
        rid = str(self.redis.incr(keys.places_seq_key(self.region)))
        self.redis.hset(self.key, rid, json.dumps({
            "id": rid, "site": site_id, "name": name[:80], "locale": locale, "rank": rank,
            "at": now.timestamp(), "day": now.date().isoformat()}))
        return rid

    def open(self) -> list[dict]:
        """Every open report, newest first."""
        found = [json.loads(v) for v in self.redis.hvals(self.key)]
        return sorted(found, key=lambda r: r["at"], reverse=True)

    def count(self) -> int:
        return self.redis.hlen(self.key)

    def close(self, rid: str) -> dict | None:
        """Take a report off the queue (fixed or dismissed); None if someone else did."""
        raw = self.redis.hget(self.key, rid)
        if raw is None or not self.redis.hdel(self.key, rid):
            return None
        return json.loads(raw)


def install(helpline) -> Reports:
    """File `site_report` events of committed steps (the simulator's are never filed)."""
    reports = Reports(helpline.redis, helpline.settings.region)

    def on_report(subject: str, event, outcome, now: datetime) -> None:
        site_id = str(event.data.get("site", ""))
        site = next((s for s in helpline.sites.all.sites if s.id == site_id), None)
        try:
            reports.file(site_id, site.name if site else site_id, outcome.state.locale,
                         int(event.data.get("rank") or 0), now)
        except (redis.RedisError, OSError) as exc:  # the thanks was sent; the report is lost
            log.warning("places: a WRONG report could not be filed: %s", type(exc).__name__)

    helpline.conversations.event_handlers[REPORT] = on_report
    helpline.extras["site_reports"] = reports
    return reports
