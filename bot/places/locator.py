"""Find naloxone near a ZIP code or town: a pure lookup over one region's data file.

Why: "where can I get naloxone?" must be answered right, fast and the same way every time, so
the agencies are plain data (content/<region>/naloxone_sites.yaml, checked at load) and this is
plain code: no Redis, no Flask, no network. ZIPs and town names come from the offline `zipcodes`
package, indexed once per state, so a message costs a few dict lookups. It leans towards "not a
place": menu digits, 911 and everyday words (help, menu, hola...) must never become a town.
"""
from __future__ import annotations

import importlib.util
import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import fmean

import yaml
import zipcodes
from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.places.sites import (  # noqa: F401 (REGIONS, SERVICES: imported from here too)
    PHONE as _PHONE, REGIONS, SERVICES, SHORT_NAME_MAX, SLUG as _SLUG, Site, SiteError, check_site)

log = logging.getLogger(__name__)

FOUND, OUT_OF_REGION, INVALID_ZIP, NOT_A_PLACE = "found", "out_of_region", "invalid_zip", "not_a_place"
MAX_TEXT = 320          # two SMS segments; longer messages are stories, not places
MAX_FREE_WORDS = 5      # "i live in st cloud" yes; a sentence only when it ends in ", MN"
FUZZY_MIN_LENGTH = 6    # typo tolerance only for longer names ("minneapols", "bemiji")
EARTH_RADIUS_MILES = 3958.8
_ZIP_IN_TEXT = re.compile(r"(?<!\d)(\d{5})(?:-?\d{4})?(?!\d)", re.ASCII)
# Exceptions that must stop the process: anything else a library raises, even a BaseException
# such as pyo3's PanicException from the Rust inside `zipcodes`, is contained (contained()).
try:
    from gevent import GreenletExit as _GreenletExit
except ImportError:  # gevent is a web-server choice, not a requirement of this module
    _GreenletExit = SystemExit
FATAL = (KeyboardInterrupt, SystemExit, _GreenletExit)
_NON_WORD = re.compile(r"[^a-z0-9]+")
_TOKEN_ALIASES = {"saint": "st", "ft": "fort", "mpls": "minneapolis"}
# Leading words people put before a place: "my zip is 55811", "in duluth", "vivo en st paul".
_FILLER = frozenset("i im am my is its live living in near at around from zip code zipcode "
                    "postal town city of the mi es vivo en cerca de codigo".split())
# Never a town on their own: commands, topic words, greetings (English, Spanish) and the MN towns
# named like everyday words (people there can text their ZIP, or "Hope, MN": a state suffix counts).
COMMON_WORDS = frozenset("""help menu more stop start yes no hi hello hey ok okay back next thanks
    thank please info language english spanish espanol naloxone narcan overdose treatment police
    emergency lake center city park town oh ayuda hola si gracias mas ayudame adios ingles hope
    welcome max climax embarrass fertile outing reading harmony independence savage cook iron isle
    echo regal swift twig mound trail wells dent rice frost tower marble cotton cedar crystal
    badger""".split())


class LocatorDataError(ValueError):
    """The data file is wrong; the message names the file and the entry at fault."""


@dataclass(frozen=True)
class Contact:             # a statewide resource, not tied to a place: never in "nearest"
    id: str
    name: str
    short_name: str
    phone: str | None
    source: str
    url: str | None = None


@dataclass(frozen=True)
class Place:
    kind: str               # "zip" | "town"
    label: str              # "55811 (Duluth)" | "Duluth"
    lat: float
    lon: float
    state: str              # two letters: "MN", "IA", ...
    in_region: bool


@dataclass(frozen=True)
class Lookup:
    status: str             # FOUND | OUT_OF_REGION | INVALID_ZIP | NOT_A_PLACE
    place: Place | None = None
    nearest: tuple[tuple[Site, float], ...] = ()   # (site, miles), nearest first
    query: str = ""         # the ZIP digits as read, for "I could not find ZIP code ..."


def fold(text: str) -> list[str]:
    """Lower-case words without accents or punctuation: 'St. Cloud, MN' -> ['st', 'cloud', 'mn']."""
    text = unicodedata.normalize("NFKD", text.lower().replace("'", "").replace("\u2019", ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", text).split()


def ascii_digits(text: str) -> str:
    """Each decimal digit of any script as its ASCII digit: "٥٥٨١١", "५५८११" and "๕๕๘๑๑" are
    read as 55811, as the person meant it (and no library ever sees a non-ASCII digit)."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def contained(call, *args, default=None):
    """A library call that can never take the process down: any failure, including a panic in
    compiled code (a BaseException), is logged and answered with `default`."""
    try:
        return call(*args)
    except FATAL:
        raise
    except BaseException as exc:  # noqa: B036 - pyo3's PanicException is a BaseException
        log.error("%s failed and was contained: %s", getattr(call, "__name__", "a call"),
                  type(exc).__name__)
        return default


def town_key(words: list[str]) -> str:
    """Index key of a town name: 'Saint Paul', 'St. Paul' and 'st paul' all give 'st paul'."""
    return " ".join(_TOKEN_ALIASES.get(w, w) for w in words)


def miles_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in miles."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_MILES * math.asin(math.sqrt(a))


def _strip_filler(words: list[str]) -> list[str]:
    """Drop leading filler words but keep the last word: 'in duluth' -> ['duluth']."""
    return next((words[i:] for i, w in enumerate(words[:-1]) if w not in _FILLER), words[-1:])


@lru_cache(maxsize=1)
def everyday_words() -> frozenset[str]:
    """COMMON_WORDS plus textstat's everyday English and Spanish word lists (a pinned requirement):
    typo tolerance never turns one of these into a town ('winter' is not Winger)."""
    words = set(COMMON_WORDS)
    spec = importlib.util.find_spec("textstat")          # locate the package, do not import it
    for lang in ("en", "es") if spec and spec.origin else ():
        path = Path(spec.origin).parent / "resources" / lang / "easy_words.txt"
        if path.is_file():
            words.update(" ".join(fold(w)) for w in path.read_text(encoding="utf-8").split())
    return frozenset(words)


@lru_cache(maxsize=8)
def _places(state: str) -> tuple[dict[str, Place], dict[str, Place], dict[str, list[str]]]:
    """One state's ZIP -> Place, town key -> Place, and fuzzy candidates by first letter. A town's
    point is the mean of the ZIPs it is the main city of (else of those that accept its name)."""
    zips, named = {}, {}
    for row in zipcodes.filter_by(state=state):
        lat, lon = float(row["lat"]), float(row["long"])
        zips[row["zip_code"]] = Place("zip", f"{row['zip_code']} ({row['city']})", lat, lon, state, True)
        for name in (row["city"], *row["acceptable_cities"]):
            named.setdefault(town_key(fold(name)), []).append((name == row["city"], name, lat, lon))
    towns, by_letter = {}, {}
    for key, rows in named.items():
        rows = [r for r in rows if r[0]] or rows
        towns[key] = Place("town", rows[0][1], fmean(r[2] for r in rows), fmean(r[3] for r in rows),
                           state, True)
        if len(key) >= FUZZY_MIN_LENGTH:
            by_letter.setdefault(key[0], []).append(key)
    return zips, towns, by_letter


class Locator:
    """One region's naloxone sites and the places people in it may name."""

    def __init__(self, state: str, name: str, sites: list[Site], statewide: list[Contact],
                 bounds: dict | None = None):
        self.state, self.name, self.bounds = state, name, dict(bounds or {})
        self.sites, self.statewide = tuple(sites), tuple(statewide)
        self._located = tuple(s for s in self.sites if s.located)   # only these have a distance
        self._zips, self._towns, self._fuzzy_keys = _places(state)
        self._everyday = everyday_words()      # loaded now, not on the first message
        self._state_words = {state.lower(), *fold(name)}

    @classmethod
    def from_file(cls, path: str | Path) -> "Locator":
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        data = data if isinstance(data, dict) else {}
        return cls(*_validate(str(path), data), bounds=data.get("bounds"))

    def with_sites(self, sites: list[Site]) -> "Locator":
        """The same region and places with another list of sites (the live ones, those offered)."""
        return Locator(self.state, self.name, sites, self.statewide, self.bounds)

    def at(self, now) -> "Locator":
        """The sites offered at `now`: a file's sites are all offered (places/live.py filters
        the managed ones by status and last check)."""
        return self

    @lru_cache(maxsize=8192)
    def classify(self, text: str, n: int = 3) -> Lookup:
        """Read a message as a place and, when it is in the region, list the nearest sites.
        Every text is read as a place, and most are the same few ("1", "hi"): memoised."""
        status, place, query = self._parse(text or "")
        nearest = tuple(self.nearest(place.lat, place.lon, n)) if status == FOUND else ()
        return Lookup(status, place, nearest, query)

    def resolve_place(self, text: str) -> Place | None:
        """The ZIP or town the message names (out-of-state ZIPs too), else None."""
        return self._parse(text or "")[1]

    def nearest(self, lat: float, lon: float, n: int = 3, offset: int = 0) -> list[tuple[Site, float]]:
        """Sites with a place, by straight-line distance, nearest first; offset pages on for
        "MORE". A site the source gives no address for is never ranked (its area screen lists it)."""
        ranked = sorted(((s, miles_between(lat, lon, s.lat, s.lon)) for s in self._located),
                        key=lambda pair: pair[1])
        return ranked[offset:offset + n]

    @property
    def located(self) -> list[Site]:
        """Sites with a known town: only these are ranked by distance."""
        return [s for s in self.sites if s.located]

    def town_names(self) -> list[str]:
        """Every town of the region by its canonical name, for finding one inside a sentence."""
        return [place.label for place in self._towns.values()]

    @property
    def located_count(self) -> int:
        return len(self._located)

    def sites_by_region(self) -> dict[str, list[Site]]:   # every region key, for the area menus
        return {region: [s for s in self.sites if s.region == region] for region in REGIONS}

    def tribal_sites(self) -> list[Site]:                  # Native-led agencies
        return [s for s in self.sites if s.tribal]

    def _parse(self, text: str) -> tuple[str, Place | None, str]:
        text = ascii_digits(text).strip()
        if not text or len(text) > MAX_TEXT:
            return NOT_A_PLACE, None, ""
        words = fold(text)
        core = _strip_filler(words)
        if core and all(w.isascii() and w.isdigit() for w in core):  # "55811", "zip 1234"
            digits = "".join(core)
            if len(digits) <= 3:                        # menu choices, 911
                return NOT_A_PLACE, None, ""
            return self._zip(digits[:5]) if len(digits) in (5, 9) else (INVALID_ZIP, None, digits)
        found = _ZIP_IN_TEXT.findall(text)
        if found:                                       # the last one: addresses end in the ZIP
            return self._zip(found[-1])
        place = self._town(words)
        return (FOUND, place, "") if place else (NOT_A_PLACE, None, "")

    def _zip(self, zip5: str) -> tuple[str, Place | None, str]:
        if zip5 in self._zips:
            return FOUND, self._zips[zip5], zip5
        if not (len(zip5) == 5 and zip5.isascii() and zip5.isdigit()):
            return INVALID_ZIP, None, ""
        # Another state: rare, so not indexed. The library is compiled code: contained.
        r = next(iter(contained(zipcodes.matching, zip5, default=()) or ()), None)
        if r is None:
            return INVALID_ZIP, None, zip5
        return OUT_OF_REGION, Place("zip", f"{zip5} ({r['city']})", float(r["lat"]), float(r["long"]),
                                    r["state"], False), zip5

    def _town(self, words: list[str]) -> Place | None:
        explicit = bool(words) and words[-1] in self._state_words    # "Mankato, MN"
        if explicit:
            words = words[:-1]
        core_words = _strip_filler(words)
        if not explicit and len(core_words) > MAX_FREE_WORDS:
            return None
        full, core = town_key(words), town_key(core_words)
        if not explicit and core in COMMON_WORDS:
            return None
        place = self._towns.get(full) or self._towns.get(core) or self._fuzzy(core)
        if place or not explicit:
            return place
        tails = (town_key(words[-k:]) for k in range(min(4, len(words)), 0, -1))
        return next((self._towns[t] for t in tails if t in self._towns), None)

    def _fuzzy(self, key: str) -> Place | None:
        """One typo in names of 6-8 letters, two in longer ones; a tie is no answer."""
        if len(key) < FUZZY_MIN_LENGTH or key in self._everyday:
            return None
        limit = 1 if len(key) < 9 else 2
        hits = process.extract(key, self._fuzzy_keys.get(key[0], ()), scorer=OSA.distance,
                               score_cutoff=limit, limit=2)
        if not hits or (len(hits) == 2 and hits[0][1] == hits[1][1]):
            return None
        return self._towns[hits[0][0]]


def _validate(path: str, data: dict) -> tuple[str, str, list[Site], list[Contact]]:
    """State, name and entries, or LocatorDataError naming the file and the entry at fault."""
    def fail(where: str, problem: str):
        raise LocatorDataError(f"{path}: {where}: {problem}")
    missing = [k for k in ("region", "state", "name", "bounds", "sites", "source") if not data.get(k)]
    if missing:
        fail("top level", "missing " + ", ".join(missing))
    box = data["bounds"]
    if not isinstance(box, dict) or not {"lat_min", "lat_max", "lon_min", "lon_max"} <= set(box):
        fail("bounds", "needs lat_min, lat_max, lon_min, lon_max")
    sites, seen = [], {}
    for i, raw in enumerate(data.get("sites") or []):
        where = f"sites[{i}] {(raw if isinstance(raw, dict) else {}).get('id', '?')!r}"
        try:
            site = check_site(raw, where, box)
        except SiteError as exc:
            raise LocatorDataError(f"{path}: {exc}") from None
        _unique(site.id, site.name, site.phone, where, seen, fail)
        sites.append(site)
    statewide = []
    for i, raw in enumerate(data.get("statewide") or []):
        raw = raw if isinstance(raw, dict) else {}
        where = f"statewide[{i}] {raw.get('id', '?')!r}"
        missing = [f for f in ("id", "name", "short_name", "source") if raw.get(f) in (None, "")]
        if missing:
            fail(where, "missing " + ", ".join(missing))
        if not _SLUG.fullmatch(str(raw["id"])):
            fail(where, f"id {raw['id']!r} is not a slug like 'red-door-clinic'")
        if len(raw["short_name"]) > SHORT_NAME_MAX:
            fail(where, f"short_name {raw['short_name']!r} is over {SHORT_NAME_MAX} characters")
        if raw.get("phone") is not None and not _PHONE.fullmatch(str(raw["phone"])):
            fail(where, f"phone {raw['phone']!r} is not NNN-NNN-NNNN")
        _unique(raw["id"], raw["name"], raw.get("phone"), where, seen, fail)
        statewide.append(Contact(raw["id"], raw["name"], raw["short_name"], raw.get("phone"),
                                 raw["source"], raw.get("url")))      # phone and url are optional
    return data["state"], data["name"], sites, statewide


def _unique(site_id, name, phone, where: str, seen: dict, fail) -> None:
    """Ids, and name with phone, are unique across sites and statewide entries."""
    for key, what in ((site_id, "id"), ((name, phone), "name and phone")):
        if key in seen:
            fail(where, f"same {what} as {seen[key]}")
        seen[key] = where
