"""The sites in Redis: the system of record, seeded from the region's YAML file, with changes
staged for review and a history of every change.

Why Redis and not the file: editors change sites in the console while the service runs, and
every web and worker process must follow within a second (live.py reloads when the version key
moves). The file stays the seed and the export (`flask --app wsgi places yaml`). The rules:
- a change that could send someone somewhere new (a new site, another phone or place, a site
  back to active) is a proposal until another editor, or an admin, approves it;
- a change that only stops offering a site (retired, temporarily closed) and a verification
  ("I called them today") go live at once: hiding a site is the safe direction;
- every live change bumps the version key and lands in the site's history (who, when, which
  fields from what to what); `audit` (set by the console) records it in the staff audit log too.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date
from typing import Callable

import redis

from bot.places.sites import Site, SiteError, check_site
from bot.storage import keys

HISTORY_KEEP = 100
FIELDS = ("name", "short_name", "phone", "town", "zip", "lat", "lon", "region", "services",
          "tribal", "status", "verified", "verified_by", "source")
# Seed only an empty registry, in one step, so processes starting together seed it once.
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('INCR', KEYS[2])
return 1"""


class ReviewError(ValueError):
    """A change that cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Proposal:
    id: str
    site_id: str
    kind: str             # "add", "edit" or "import"
    record: dict          # the site as it would go live
    base: str             # fingerprint of the live record it was made against ("" for a new site)
    by: str
    at: float
    note: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def fingerprint(record: dict | None) -> str:
    if not record:
        return ""
    return hashlib.sha1(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def changes(before: dict | None, after: dict | None) -> list[tuple[str, object, object]]:
    """(field, old, new) for each field that differs, in a fixed order."""
    before, after = before or {}, after or {}
    return [(f, before.get(f), after.get(f)) for f in FIELDS if before.get(f) != after.get(f)]


def only_hides(before: Site | None, after: Site) -> bool:
    """A change of status away from active and nothing else: safe to apply at once."""
    if before is None or after.status == "active":
        return False
    return [f for f, _, _ in changes(before.record(), after.record())] == ["status"]


class Registry:
    """One region's sites in Redis (keys in bot/storage/keys.py)."""

    def __init__(self, client: redis.Redis, region: str, bounds: dict,
                 audit: Callable[[str, str, str], None] | None = None,
                 seed: list[Site] | None = None):
        self.redis, self.region, self.bounds, self.audit = client, region, bounds, audit
        self.key = keys.sites_key(region)
        self.version_key = keys.sites_version_key(region)
        self.proposals_key = keys.site_proposals_key(region)
        self._seed, self._seeded = list(seed or []), seed is None

    def _ready(self) -> None:
        """Seed an empty registry from the region's file on first use, not at start-up: a
        process that only answers texts writes nothing until a site is read for editing."""
        if not self._seeded:
            self.seed(self._seed)
            self._seeded = True

    # --- reading -----------------------------------------------------------------------------
    def version(self) -> int:
        """0 while nothing was seeded: the region's file is then the list."""
        return int(self.redis.get(self.version_key) or 0)

    def sites(self) -> list[Site]:
        """Every site, live or not, by name; a record that no longer passes the checks is skipped
        (and logged by the caller's view of problems), never served."""
        self._ready()
        found = []
        for raw in self.redis.hvals(self.key):
            site = self._parse(raw)
            if site is not None:
                found.append(site)
        return sorted(found, key=lambda s: s.name.lower())

    def get(self, site_id: str) -> Site | None:
        self._ready()
        raw = self.redis.hget(self.key, site_id)
        return self._parse(raw) if raw else None

    def _parse(self, raw: bytes) -> Site | None:
        try:
            data = json.loads(raw)
            return check_site(data, f"site {data.get('id')!r}", self.bounds)
        except (ValueError, SiteError, AttributeError):
            return None

    def history(self, site_id: str, n: int = 50) -> list[dict]:
        return [json.loads(e) for e in self.redis.lrange(keys.site_history_key(self.region, site_id),
                                                         0, n - 1)]

    # --- seeding -----------------------------------------------------------------------------
    def seed(self, sites: list[Site]) -> bool:
        """Load the file's sites into an empty registry; False when it holds sites already."""
        args = []
        for site in sites:
            args += [site.id, json.dumps(site.record(), sort_keys=True)]
        return bool(self.redis.eval(_SEED, 2, self.key, self.version_key, *args))

    # --- changes that go live at once --------------------------------------------------------
    def verify(self, site_id: str, who: str, day: date, note: str = "") -> Site:
        """Someone checked the site today (a call, a visit): its date and checker are updated."""
        site = self._live(site_id)
        checked = site.with_changes(verified=day.isoformat(), verified_by=who)
        self._write(site, checked, who, "verified", note)
        return checked

    def set_status(self, site_id: str, status: str, who: str, note: str = "") -> Site:
        """Retire or close a site (live at once); back to active is a proposal (change())."""
        site = self._live(site_id)
        new = self.check(site.record() | {"status": status})
        if new.status == "active":
            raise ReviewError("making a site active again is reviewed: propose it as an edit")
        self._write(site, new, who, f"status {new.status}", note)
        return new

    def put(self, site: Site, who: str, what: str, note: str = "") -> Site:
        """Write a site live without review: for operators at the command line (an HSDS import
        with --yes), audited like any change."""
        site = self.check(site.record())
        self._write(self.get(site.id), site, who, what, note)
        return site

    # --- changes that wait for review --------------------------------------------------------
    def change(self, new: Site, who: str, note: str = "", kind: str | None = None) -> Proposal | Site:
        """Apply a change that only hides the site, else stage it: the Site, or the Proposal."""
        before = self.get(new.id)
        if before is not None and not changes(before.record(), new.record()):
            raise ReviewError("nothing changed")
        if only_hides(before, new):
            return self.set_status(new.id, new.status, who, note)
        return self.propose(new, who, note, kind or ("edit" if before else "add"))

    def propose(self, new: Site, who: str, note: str = "", kind: str = "edit") -> Proposal:
        before = self.get(new.id)
        pid = str(self.redis.incr(keys.places_seq_key(self.region)))
        proposal = Proposal(pid, new.id, kind, new.record(),
                            fingerprint(before.record() if before else None), who, time.time(),
                            note[:200])
        self.redis.hset(self.proposals_key, pid, proposal.to_json())
        self._history(new.id, who, f"proposed ({kind}, #{pid})",
                      changes(before.record() if before else None, new.record()), note)
        self._audit(who, f"site change proposed: {new.id}", f"#{pid} ({kind})")
        return proposal

    def proposals(self) -> list[Proposal]:
        self._ready()
        found = [Proposal(**json.loads(v)) for v in self.redis.hvals(self.proposals_key)]
        return sorted(found, key=lambda p: p.at)

    def proposal(self, pid: str) -> Proposal | None:
        raw = self.redis.hget(self.proposals_key, pid)
        return Proposal(**json.loads(raw)) if raw else None

    def approve(self, pid: str, who: str, is_admin: bool = False) -> Site:
        """Another editor, or an admin, puts a proposal live, if the site did not change since."""
        self._ready()
        proposal = self.proposal(pid)
        if proposal is None:
            raise ReviewError(f"proposal #{pid} is gone: someone else reviewed it")
        if proposal.by == who and not is_admin:
            raise ReviewError("another editor (or an admin) must approve your own change")
        new = self.check(proposal.record)
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(self.key, self.proposals_key)
                raw = pipe.hget(self.key, new.id)
                before = self._parse(raw) if raw else None
                if fingerprint(before.record() if before else None) != proposal.base:
                    raise ReviewError(f"{new.id} changed after proposal #{pid} was made: "
                                      "reject it and propose the change again")
                if not pipe.hexists(self.proposals_key, pid):
                    raise ReviewError(f"proposal #{pid} is gone: someone else reviewed it")
                pipe.multi()
                pipe.hdel(self.proposals_key, pid)
                self._queue_write(pipe, before, new, who, f"approved #{pid} by {proposal.by}",
                                  proposal.note)
                pipe.execute()
            except redis.WatchError:
                raise ReviewError(f"{new.id} changed while you approved: try again") from None
        self._audit(who, f"site approved: {new.id}", f"proposal #{pid} by {proposal.by}")
        return new

    def reject(self, pid: str, who: str, note: str = "") -> Proposal:
        proposal = self.proposal(pid)
        if proposal is None or not self.redis.hdel(self.proposals_key, pid):
            raise ReviewError(f"proposal #{pid} is gone: someone else reviewed it")
        self._history(proposal.site_id, who, f"rejected #{pid} by {proposal.by}", [], note)
        self._audit(who, f"site proposal rejected: {proposal.site_id}", f"#{pid}")
        return proposal

    # --- helpers -----------------------------------------------------------------------------
    def check(self, record: dict) -> Site:
        try:
            return check_site(record, f"site {record.get('id')!r}", self.bounds)
        except SiteError as exc:
            raise ReviewError(str(exc)) from None

    def _live(self, site_id: str) -> Site:
        site = self.get(site_id)
        if site is None:
            raise ReviewError(f"no site {site_id!r}")
        return site

    def _write(self, before: Site | None, after: Site, who: str, what: str, note: str) -> None:
        pipe = self.redis.pipeline()
        self._queue_write(pipe, before, after, who, what, note)
        pipe.execute()
        self._audit(who, f"site {what}: {after.id}", note)

    def _queue_write(self, pipe, before: Site | None, after: Site, who: str, what: str,
                     note: str) -> None:
        pipe.hset(self.key, after.id, json.dumps(after.record(), sort_keys=True))
        pipe.incr(self.version_key)
        self._history(after.id, who, what,
                      changes(before.record() if before else None, after.record()), note, pipe)

    def _history(self, site_id: str, who: str, what: str, diff: list, note: str = "",
                 pipe=None) -> None:
        key = keys.site_history_key(self.region, site_id)
        entry = json.dumps({"at": time.time(), "who": who, "what": what, "note": note[:200],
                            "changes": [[f, old, new] for f, old, new in diff]})
        target = pipe if pipe is not None else self.redis.pipeline()
        target.lpush(key, entry)
        target.ltrim(key, 0, HISTORY_KEEP - 1)
        if pipe is None:
            target.execute()

    def _audit(self, who: str, what: str, detail: str = "") -> None:
        if self.audit is not None:
            self.audit(who, what, detail)
