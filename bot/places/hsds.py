"""Sites in and out as Open Referral HSDS 3.0 CSV: organizations, locations, phones, services.

Why HSDS: it is what 211s and resource directories exchange, so a partner's list can be read
and ours shared without a custom format. One site is one organization (its id is the site id)
with one naloxone service (`status`, `assured_date`), one phone, and a physical location when
the site has a place. What HSDS has no field for travels in extension columns, as its
conformance rules allow: `x_city`, `x_postal_code` on locations (HSDS keeps them in an address
table that also needs a street, which our source does not give), and on services `x_region`,
`x_services`, `x_tribal`, `x_assured_by` (who checked) and `x_source`. An addresses.csv, when a
partner's export has one, gives the city and ZIP instead.

Reading never changes anything: read() gives records and problems, diff() compares them with
the live sites, and the caller decides (the CLI with --yes, the console by staging proposals).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.places.registry import changes
from bot.places.sites import Site, SiteError, check_site

FILES = ("organizations.csv", "locations.csv", "phones.csv", "services.csv")
OPTIONAL = ("addresses.csv",)
COLUMNS = {
    "organizations.csv": ("id", "name", "alternate_name", "description"),
    "locations.csv": ("id", "organization_id", "location_type", "name", "latitude", "longitude",
                      "x_city", "x_postal_code"),
    "phones.csv": ("id", "organization_id", "service_id", "number", "type"),
    "services.csv": ("id", "organization_id", "name", "status", "assured_date", "x_assured_by",
                     "x_region", "x_services", "x_tribal", "x_source"),
}
MAX_ROWS = 2000          # a directory of naloxone sites, not a dump of a whole 211
MAX_BYTES = 2_000_000    # per file


class HSDSError(ValueError):
    """A file that cannot be read at all (missing, too big, not CSV)."""


@dataclass
class Reading:
    records: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # "services.csv row 3: ..."


@dataclass
class Diff:
    added: list[dict] = field(default_factory=list)
    changed: list[tuple[dict, list]] = field(default_factory=list)   # (record, [(f, old, new)])
    same: list[str] = field(default_factory=list)
    missing: list[Site] = field(default_factory=list)                # live, not in the files

    @property
    def count(self) -> int:
        return len(self.added) + len(self.changed)


# --- writing ---------------------------------------------------------------------------------
def export(sites: list[Site]) -> dict[str, str]:
    """File name -> CSV text, for every site (whatever its status: the status says it)."""
    rows = {name: [] for name in FILES}
    for s in sites:
        rows["organizations.csv"].append({
            "id": s.id, "name": s.name, "alternate_name": s.short_name,
            "description": f"Gives out naloxone (Narcan). Listed in {s.source}."})
        if s.located:
            rows["locations.csv"].append({
                "id": f"{s.id}-location", "organization_id": s.id, "location_type": "physical",
                "name": s.name, "latitude": s.lat, "longitude": s.lon, "x_city": s.town,
                "x_postal_code": s.zip})
        rows["phones.csv"].append({"id": f"{s.id}-phone", "organization_id": s.id,
                                   "service_id": f"{s.id}-naloxone", "number": s.phone,
                                   "type": "voice"})
        rows["services.csv"].append({
            "id": f"{s.id}-naloxone", "organization_id": s.id, "name": "Naloxone (Narcan)",
            "status": s.status.replace("_", " "), "assured_date": s.verified or "",
            "x_assured_by": s.verified_by, "x_region": s.region,
            "x_services": ";".join(s.services), "x_tribal": "true" if s.tribal else "false",
            "x_source": s.source})
    out = {}
    for name in FILES:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS[name], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows[name])
        out[name] = buffer.getvalue()
    return out


def write_dir(folder: Path, sites: list[Site]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in export(sites).items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return paths


# --- reading ---------------------------------------------------------------------------------
def read_dir(folder: Path) -> dict[str, str]:
    """File name -> text for the HSDS files in a folder (the four, and addresses.csv if there)."""
    found = {}
    for name in FILES + OPTIONAL:
        path = Path(folder) / name
        if path.is_file():
            if path.stat().st_size > MAX_BYTES:
                raise HSDSError(f"{path}: over {MAX_BYTES // 1_000_000} MB")
            found[name] = path.read_text(encoding="utf-8-sig")
    return found


def _rows(files: dict[str, str], name: str, problems: list[str]) -> list[dict]:
    text = files.get(name)
    if text is None:
        if name in FILES:
            raise HSDSError(f"{name} is missing: an HSDS import needs {', '.join(FILES)}")
        return []
    if len(text) > MAX_BYTES:
        raise HSDSError(f"{name}: over {MAX_BYTES // 1_000_000} MB")
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise HSDSError(f"{name}: not a CSV file ({exc})") from None
    if len(rows) > MAX_ROWS:
        raise HSDSError(f"{name}: {len(rows)} rows; at most {MAX_ROWS}")
    return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in rows]


def _phone(raw: str) -> str:
    """'(612) 673-2301', '+1 612 673 2301' -> '612-673-2301' (else as given, and the check says)."""
    digits = re.sub(r"\D", "", raw)
    digits = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if len(digits) == 10 else raw


def read(files: dict[str, str], bounds: dict) -> Reading:
    """The sites the files describe, each checked as a console edit is; problems name the file,
    the row and the field. A site with a problem is left out of the records."""
    reading = Reading()
    problems = reading.problems
    orgs = _rows(files, "organizations.csv", problems)
    by_org: dict[str, dict] = {}
    for name in ("locations.csv", "phones.csv", "services.csv"):
        for row in _rows(files, name, problems):
            by_org.setdefault(row.get("organization_id", ""), {}).setdefault(name, row)
    addresses = {r.get("location_id"): r for r in _rows(files, "addresses.csv", problems)}
    for i, org in enumerate(orgs, 2):              # row 1 is the header
        where = f"organizations.csv row {i} ({org.get('id') or '?'})"
        linked = by_org.get(org.get("id", ""), {})
        service, phone = linked.get("services.csv", {}), linked.get("phones.csv", {})
        location = linked.get("locations.csv")
        address = addresses.get(location.get("id")) if location else None
        record = {
            "id": org.get("id"), "name": org.get("name"),
            "short_name": org.get("alternate_name") or (org.get("name") or "")[:22],
            "phone": _phone(phone.get("number", "")),
            "region": service.get("x_region"),
            "services": [s for s in (service.get("x_services") or "naloxone").split(";") if s],
            "source": service.get("x_source"),
            "tribal": service.get("x_tribal", "").lower() == "true",
            "status": (service.get("status") or "active").replace(" ", "_"),
            "verified": service.get("assured_date") or None,
            "verified_by": service.get("x_assured_by") or "",
        }
        if location and location.get("latitude") and location.get("longitude"):
            try:
                record["lat"] = round(float(location["latitude"]), 4)
                record["lon"] = round(float(location["longitude"]), 4)
            except ValueError:
                problems.append(f"{where}: latitude and longitude must be numbers")
                continue
            record["town"] = (address or {}).get("city") or location.get("x_city")
            record["zip"] = ((address or {}).get("postal_code") or location.get("x_postal_code")
                             or "")[:5] or None
        try:
            check_site(record, where, bounds)
        except SiteError as exc:
            problems.append(str(exc))
            continue
        reading.records.append(record)
    ids = [r["id"] for r in reading.records]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"organizations.csv: id {dup!r} appears more than once")
        reading.records = [r for r in reading.records if r["id"] != dup]
    return reading


def diff(records: list[dict], live: list[Site], bounds: dict) -> Diff:
    """What importing the records would change in the live sites (nothing is deleted: a live
    site missing from the files is listed, to be retired by hand if it should be)."""
    current = {s.id: s for s in live}
    result = Diff()
    for record in records:
        site = check_site(record, record["id"], bounds)
        before = current.get(site.id)
        if before is None:
            result.added.append(site.record())
            continue
        delta = changes(before.record(), site.record())
        if delta:
            result.changed.append((site.record(), delta))
        else:
            result.same.append(site.id)
    seen = {r["id"] for r in records}
    result.missing = [s for s in live if s.id not in seen]
    return result
