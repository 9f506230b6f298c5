"""Message wording: Jinja2 templates per locale in content/<locale>/*.yaml, and SMS segment counting.

Each entry names its source, has an SMS template and may have a voice variant; a key missing in
one language falls back to the default language at run time (the content check still fails).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jinja2
import jinja2.meta
import yaml

NON_TEMPLATE_FILES = {"keywords.yaml"}
CHANNELS = ("sms", "voice")

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENDED = set("^{}\\[~]|€\f")
GSM_ALL = GSM_BASIC | GSM_EXTENDED


class ContentError(ValueError):
    """A content file or template is wrong; the message names the file and key."""


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int     # septets for GSM-7, UTF-16 code units for UCS-2
    count: int


@functools.lru_cache(maxsize=4096)
def segments(text: str) -> Segments:
    """How many SMS segments Twilio bills for this text (160/153 GSM-7, 70/67 UCS-2)."""
    chars = set(text)
    if chars <= GSM_ALL:
        units = len(text) + sum(text.count(ch) for ch in chars & GSM_EXTENDED)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    count = 1 if units <= single else -(-units // multi)
    return Segments(encoding, units, count)


@dataclass(frozen=True)
class Entry:
    key: str
    source: tuple[str, ...]
    sms: str
    voice: str | None
    file: str
    max_segments: int = 3  # the SMS budget: 2 for the emergency and its updates


def _tidy(text: str) -> str:
    """Trim each line and squeeze blank runs, so template indentation never reaches a phone."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def load_entries(locale_dir: Path) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for path in sorted(locale_dir.glob("*.yaml")):
        if path.name in NON_TEMPLATE_FILES:
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ContentError(f"{path}: not valid YAML: {exc}") from None
        for key, raw in data.items():
            where = f"{path.parent.name}/{path.name}: {key}"
            if not isinstance(raw, dict) or not isinstance(raw.get("sms"), str):
                raise ContentError(f"{where}: needs an 'sms' template")
            if key in entries:
                raise ContentError(f"{where}: key already defined in {entries[key].file}")
            source = raw.get("source") or ()
            source = (source,) if isinstance(source, str) else tuple(source)
            entries[key] = Entry(key, source, raw["sms"], raw.get("voice"),
                                 f"{path.parent.name}/{path.name}",
                                 int(raw.get("max_segments", 3)))
    return entries


class Content:
    """All locales' templates compiled once; render(key, locale, channel, params) -> text."""

    def __init__(self, content_dir: Path, default_locale: str = "en",
                 globals_: Mapping[str, Any] | None = None):
        self.dir = Path(content_dir)
        self.default = default_locale
        self.entries = {p.name: load_entries(p) for p in sorted(self.dir.iterdir())
                        if p.is_dir() and (p / "keywords.yaml").exists()}
        if default_locale not in self.entries:
            raise ContentError(f"{self.dir}/{default_locale}: the default language has no content")
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                                      keep_trailing_newline=False, trim_blocks=True,
                                      lstrip_blocks=True)
        self.env.globals.update(globals_ or {})
        self.env.filters["digits"] = spoken_digits
        self.env.filters["month"] = self._month
        self._compiled: dict[tuple[str, str, str], jinja2.Template] = {}
        self._static: dict[tuple[str, str, str], str] = {}
        self._months: dict[tuple[str, str], list[str]] = {}

    @property
    def locales(self) -> list[str]:
        return list(self.entries)

    def keys(self, locale: str | None = None) -> set[str]:
        return set(self.entries[locale or self.default])

    def entry(self, key: str, locale: str) -> Entry:
        found = self.entries.get(locale, {}).get(key) or self.entries[self.default].get(key)
        if found is None:
            raise ContentError(f"content key {key!r} is not defined in {self.default}/")
        return found

    def template(self, key: str, locale: str, channel: str = "sms") -> jinja2.Template:
        cache_key = (key, locale, channel)
        if cache_key not in self._compiled:
            entry = self.entry(key, locale)
            source = entry.voice if channel == "voice" and entry.voice else entry.sms
            try:
                self._compiled[cache_key] = self.env.from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise ContentError(f"{entry.file}: {key}: template error line {exc.lineno}: "
                                   f"{exc.message}") from None
        return self._compiled[cache_key]

    def needs_params(self, key: str) -> bool:
        """Whether some variant of `key` uses a value only its caller can give (a place, a
        plan): such a screen cannot be drawn again from the flow alone (Engine.drawn_by_hooks)."""
        given = set(self.env.globals) | {"channel", "locale"}
        for entries in self.entries.values():
            entry = entries.get(key)
            for source in (entry.sms, entry.voice) if entry else ():
                if source and jinja2.meta.find_undeclared_variables(self.env.parse(source)) - given:
                    return True
        return False

    def render(self, key: str, locale: str, channel: str = "sms",
               params: Mapping[str, Any] | None = None) -> str:
        if not params:  # most screens (menus, steps) take no values: render each once
            cache_key = (key, locale, channel)
            text = self._static.get(cache_key)
            if text is None:
                text = self._static[cache_key] = self._render(key, locale, channel, {})
            return text
        return self._render(key, locale, channel, params)

    @jinja2.pass_context
    def _month(self, ctx, iso_day: str | None) -> str:
        """`{{ site.verified | month }}`: 'Mar 2026' in a text, 'March' on a call, in the message's
        language, from the language's `format.months` entry, so a new language brings its own
        names. A call names no year: the phone line reads every number digit by digit (the safety
        rule voice-reads-numbers-digit-by-digit), and a site not checked within
        SITES_VERIFY_MAX_DAYS (180 by default) is not offered, so the month is the last one of
        that name."""
        locale, channel = ctx.get("locale") or self.default, ctx.get("channel") or "sms"
        names = self._months.get((locale, channel))
        if names is None:
            has = (MONTHS_KEY in self.entries.get(locale, {})
                   or MONTHS_KEY in self.entries[self.default])
            names = self._months[(locale, channel)] = (
                self.render(MONTHS_KEY, locale, channel).split() if has else [])
        return month_of(names, iso_day, year=channel != "voice")

    def _render(self, key: str, locale: str, channel: str, params: Mapping[str, Any]) -> str:
        params = dict(params)
        params.setdefault("channel", channel)
        params.setdefault("locale", locale)
        return _tidy(self.template(key, locale, channel).render(**params))


MONTHS_KEY = "format.months"  # each language's 12 month names: short for texts, long for calls


def month_of(names: list[str], iso_day: str | None, year: bool = True) -> str:
    """'2026-03-14' -> 'Mar 2026' with the language's names, 'Mar' without the year ('' for no
    date, ISO if no names)."""
    if not iso_day:
        return ""
    month = int(str(iso_day)[5:7])
    if len(names) != 12:
        return str(iso_day)[:7]
    return f"{names[month - 1]} {str(iso_day)[:4]}" if year else names[month - 1]


def spoken_digits(phone: str) -> str:
    """'1-800-662-4357' -> '1, 8 0 0, 6 6 2, 4 3 5 7' so a voice reads digits, not a number."""
    groups = re.findall(r"\d+", str(phone))
    return ", ".join(" ".join(group) for group in groups)
