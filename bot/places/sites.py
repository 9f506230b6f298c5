"""A naloxone site as data: its fields, its checks, its status and when it was last verified.

Why one module: the YAML file, the Redis records (registry.py), the console's form and an HSDS
import all describe the same thing, so they share one set of checks and one rule for whether a
site may be offered to someone: active, and verified within SITES_VERIFY_MAX_DAYS. A site the
source lists only by name and phone has no town, ZIP or coordinates, and then no town or
distance is ever shown for it (it is listed on its area's screen, never ranked by distance).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta

REGIONS = ("twin_cities", "north", "central", "south", "statewide")
SERVICES = frozenset({"naloxone", "syringe_services", "testing", "outreach", "referral"})
# Open Referral HSDS's service statuses (hsds.py writes them with a space: "temporarily closed").
STATUSES = ("active", "temporarily_closed", "inactive", "defunct")
REQUIRED = ("id", "name", "short_name", "phone", "region", "services", "source")
LOCATION = ("town", "zip", "lat", "lon")
SHORT_NAME_MAX = 22
NAME_MAX = 80
SOURCE_MAX = 120
PHONE = re.compile(r"\d{3}-\d{3}-\d{4}")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TEXT = re.compile(r"[^\x00-\x1f\x7f<>]*")   # one line, no markup


class SiteError(ValueError):
    """A site's data is wrong; the message names the entry and the field."""


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    short_name: str
    phone: str
    town: str | None
    zip: str | None
    lat: float | None
    lon: float | None
    region: str
    services: tuple[str, ...]
    source: str
    tribal: bool = False
    status: str = "active"
    verified: str | None = None       # ISO date of the last check (a call, a visit, the source)
    verified_by: str = ""             # who checked: a staff user name, or the source's name

    @property
    def located(self) -> bool:
        """Whether the data gives a place: only then are a town and a distance shown."""
        return self.lat is not None

    def record(self) -> dict:
        """The site as plain data (Redis JSON, YAML export, the console's diff)."""
        data = asdict(self)
        data["services"] = list(self.services)
        return data

    def offered(self, today: date, max_days: int) -> bool:
        """Active and verified within max_days (0: the date is not checked)."""
        if self.status != "active":
            return False
        return max_days <= 0 or (self.verified is not None
                                 and days_since(self.verified, today) <= max_days)

    def with_changes(self, **changes) -> "Site":
        return replace(self, **changes)


def days_since(iso_day: str, today: date) -> int:
    return (today - date.fromisoformat(iso_day)).days


def expires(site: Site, max_days: int) -> date | None:
    """The last day a site is still offered without a new check (None: never checked)."""
    if not site.verified or max_days <= 0:
        return None
    return date.fromisoformat(site.verified) + timedelta(days=max_days)


def check_site(raw: dict, where: str, bounds: dict) -> Site:
    """A Site from plain data, or SiteError naming `where` and the field at fault."""
    def fail(problem: str):
        raise SiteError(f"{where}: {problem}")

    raw = raw if isinstance(raw, dict) else {}
    missing = [f for f in REQUIRED if raw.get(f) in (None, "", [])]
    if missing:
        fail("missing " + ", ".join(missing))
    if not SLUG.fullmatch(str(raw["id"])):
        fail(f"id {raw['id']!r} is not a slug like 'red-door-clinic'")
    for name, limit in (("name", NAME_MAX), ("short_name", SHORT_NAME_MAX),
                        ("source", SOURCE_MAX), ("town", 40), ("verified_by", 60)):
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not _TEXT.fullmatch(value):
            fail(f"{name} must be one line of plain text")
        if len(value) > limit:
            fail(f"{name} {value!r} is over {limit} characters")
    if not PHONE.fullmatch(str(raw["phone"])):
        fail(f"phone {raw['phone']!r} is not NNN-NNN-NNNN")
    located = [f for f in LOCATION if raw.get(f) not in (None, "")]
    if located and len(located) != len(LOCATION):
        fail("town, zip, lat and lon go together: give all four, or none when the source gives "
             "no address (then no town or distance is shown)")
    lat = lon = None
    if located:
        lat, lon = raw["lat"], raw["lon"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)):
            fail("lat and lon must be numbers")
        if not (bounds["lat_min"] <= lat <= bounds["lat_max"]
                and bounds["lon_min"] <= lon <= bounds["lon_max"]):
            fail(f"coordinates ({lat}, {lon}) are outside bounds")
        if not re.fullmatch(r"\d{5}", str(raw["zip"])):
            fail(f"zip {raw['zip']!r} is not 5 digits")
    if raw["region"] not in REGIONS:
        fail(f"unknown region {raw['region']!r}")
    services = raw["services"]
    if (not isinstance(services, (list, tuple)) or "naloxone" not in services
            or not SERVICES.issuperset(services)):
        fail(f"services {list(services) if isinstance(services, (list, tuple)) else services!r} "
             f"must include naloxone and only {sorted(SERVICES)}")
    status = raw.get("status") or "active"
    if status not in STATUSES:
        fail(f"status {status!r} is not one of {', '.join(STATUSES)}")
    verified = raw.get("verified")
    verified = verified.isoformat() if isinstance(verified, date) else verified
    if verified is not None and not (isinstance(verified, str) and _DATE.fullmatch(verified)
                                     and _is_date(verified)):
        fail(f"verified {verified!r} is not a date like 2026-03-14")
    return Site(str(raw["id"]), raw["name"], raw["short_name"], str(raw["phone"]),
                raw.get("town") if located else None, str(raw["zip"]) if located else None,
                float(lat) if located else None, float(lon) if located else None,
                raw["region"], tuple(services), raw["source"], bool(raw.get("tribal", False)),
                status, verified, raw.get("verified_by") or "")


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
