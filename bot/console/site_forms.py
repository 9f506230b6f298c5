"""The site form of the console: form fields to a site record, and a site to form values.

A site's place comes from its ZIP code (the `zipcodes` package's point for it, as in the region's
file): editors type a ZIP and, if they like, a town; an empty ZIP means the source gives no
place, and then no town or distance is ever shown. The checks are the same as for the file and
an HSDS import (bot/places/sites.py).
"""
from __future__ import annotations

import re
from datetime import date

import zipcodes

from bot.places.locator import contained
from bot.places.sites import SERVICES, Site

FIELDS = ("name", "short_name", "phone", "town", "zip", "region", "source", "status")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")[:60]


def values(site: Site | None) -> dict:
    """What the form shows: a site's fields, or blanks for a new one."""
    if site is None:
        return {"services": ["naloxone"], "status": "active"}
    data = site.record()
    return {k: ("" if v is None else v) for k, v in data.items()}


def record(form, before: Site | None, state: str, who: str, today: date) -> dict:
    """A site record from the posted form (not yet checked: Registry.check raises ReviewError)."""
    text = {name: (form.get(name) or "").strip()[:120] for name in FIELDS}
    data = dict(before.record()) if before else {"id": slug(form.get("id") or text["name"])}
    data.update({k: text[k] for k in ("name", "short_name", "region", "source", "status")})
    data["phone"] = _phone(text["phone"])
    chosen = {s for s in form.getlist("services") if s in SERVICES} | {"naloxone"}
    kept = [s for s in (before.services if before else ("naloxone",)) if s in chosen]
    data["services"] = kept + sorted(chosen - set(kept))      # the order as before: no false diff
    data["tribal"] = form.get("tribal") == "1"
    data.update(_place(text["zip"], text["town"], state))
    if form.get("checked_today") == "1":
        data["verified"], data["verified_by"] = today.isoformat(), who
    return data


def _phone(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    digits = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if len(digits) == 10 else raw


class FormError(ValueError):
    """A field the form cannot use; the message says which and why."""


def _place(zip_code: str, town: str, state: str) -> dict:
    """town, zip, lat, lon from a ZIP of the region (all None for no place)."""
    if not zip_code:
        return {"town": None, "zip": None, "lat": None, "lon": None}
    found = None
    if re.fullmatch(r"\d{5}", zip_code):
        found = next(iter(contained(zipcodes.matching, zip_code, default=()) or ()), None)
    if found is None or found["state"] != state:
        raise FormError(f"ZIP {zip_code!r} is not a ZIP code of {state}: give one, or leave "
                        "it empty when the source gives no place")
    return {"town": town or found["city"].title(), "zip": found["zip_code"],
            "lat": round(float(found["lat"]), 4), "lon": round(float(found["long"]), 4)}
