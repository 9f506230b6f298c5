"""`flask content check` for the sites file: entries the locator would load but never show.

The easy mistake: a new site appended at the end of content/<region>/naloxone_sites.yaml lands
in the `statewide:` list (the last one in the file). It loads, its town and coordinates are
ignored there, and it never comes up near its town. Each such entry is an error naming it.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from bot.places.sites import REQUIRED

PLACE_FIELDS = ("town", "zip", "lat", "lon", "region", "services", "tribal")


def site_problems(helpline) -> list[str]:
    """Errors for statewide entries that carry a place (they belong under `sites:`)."""
    settings = helpline.settings
    path = Path(settings.content_dir) / settings.region / "naloxone_sites.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    errors = []
    for i, raw in enumerate(data.get("statewide") or []):
        raw = raw if isinstance(raw, dict) else {}
        placed = [f for f in PLACE_FIELDS if f in raw]
        if placed:
            errors.append(
                f"{settings.region}/{path.name}: statewide[{i}] {raw.get('id', '?')!r} has "
                f"{', '.join(placed)}, which only a site has: as a statewide entry it is never "
                "shown near its town. Move it under `sites:` (with "
                f"{', '.join(f for f in REQUIRED if f not in raw) or 'all site fields'}) "
                "or drop its place fields")
    return errors
