"""The region's sites file written back from the live sites (`flask --app wsgi places yaml`).

The file is the seed and a readable copy kept in git; Redis is the system of record once the
service runs. Writing keeps the file's comments above `sites:` and its statewide section, and
replaces the list of sites in between.
"""
from __future__ import annotations

import re

import yaml

from bot.places.sites import Site

_FIELDS = ("id", "name", "short_name", "phone", "town", "zip", "lat", "lon", "region", "services",
           "tribal", "source", "status", "verified", "verified_by")


def render(file_text: str, sites: list[Site]) -> str:
    """The file's text with its `sites:` list replaced by `sites` (sorted by id)."""
    head, sep, rest = file_text.partition("\nsites:\n")
    if not sep:
        raise ValueError("the sites file has no 'sites:' section to replace")
    tail = re.search(r"^(?:#[^\n]*\n)*statewide:", rest, re.M)
    statewide = rest[tail.start():] if tail else ""
    entries = []
    for site in sorted(sites, key=lambda s: s.id):
        record = site.record()
        entry = {k: record[k] for k in _FIELDS
                 if record.get(k) not in (None, "") and not (k == "tribal" and not record[k])}
        entries.append(entry)
    body = yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=100)
    body = "\n".join(("  " + line if line else line) for line in body.splitlines())
    return f"{head}\nsites:\n{body}\n\n{statewide}"
