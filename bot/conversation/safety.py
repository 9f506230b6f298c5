"""Safety rules as data: what a message must and must not say, from content/safety_rules.yaml.

`flask content check` and the tests apply them to every rendered message, in every language and
on both channels, so a rule written for today's screens also holds for a screen added later
(say, any message that mentions the law's protection must carry its conditions). Regexes cover
what words can say; two named checks cover what they cannot (step numbers that are also reply
numbers; Spanish words that change meaning without their accent).
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import yaml

from bot.conversation.content import segments

RULES_FILE = "safety_rules.yaml"
RULE_FIELDS = {"id", "why", "source", "screens", "except", "channels", "locales", "when", "must",
               "must_not", "check"}
PATTERN_FIELDS = ("when", "must", "must_not")
ANY_LOCALE = "*"
CHANNELS = ("sms", "voice")


class RuleError(ValueError):
    """safety_rules.yaml is wrong; the message names the rule and what to fix."""


@dataclass(frozen=True)
class Rule:
    id: str
    why: str
    screens: tuple[str, ...]
    exclude: tuple[str, ...]
    channels: tuple[str, ...]
    locales: tuple[str, ...] | None   # None: every language the content has
    when: Mapping[str, tuple[re.Pattern, ...]]
    must: Mapping[str, tuple[re.Pattern, ...]]
    must_not: Mapping[str, tuple[re.Pattern, ...]]
    check: str | None

    def applies(self, key: str, locale: str, channel: str, text: str) -> bool:
        if channel not in self.channels or (self.locales and locale not in self.locales):
            return False
        if not any(fnmatch.fnmatchcase(key, p) for p in self.screens):
            return False
        if any(fnmatch.fnmatchcase(key, p) for p in self.exclude):
            return False
        when = _for(self.when, locale)
        return not when or any(p.search(text) for p in when)

    def problems(self, locale: str, text: str) -> list[str]:
        found = [f"must say /{p.pattern}/" for p in _for(self.must, locale) if not p.search(text)]
        for p in _for(self.must_not, locale):
            hit = p.search(text)
            if hit:
                found.append(f"must not say {hit.group(0)!r} (/{p.pattern}/)")
        if self.check:
            found += CHECKS[self.check](text)
        return found


def _for(patterns: Mapping[str, tuple[re.Pattern, ...]], locale: str) -> tuple[re.Pattern, ...]:
    return patterns.get(locale, ()) + patterns.get(ANY_LOCALE, ())


# --- named checks: what a regex cannot say ------------------------------------------------------
_STEP = re.compile(r"^\s*(\d{1,2})[.)]\s", re.M)
_REPLY = re.compile(r"\b(?:reply|responde|press|oprima)\b([^\n]*)", re.I)
_MENU_LINE = re.compile(r"^\s*(\d)\s+[^\d\s]", re.M)


def step_numbers(text: str) -> list[str]:
    """A numbered step ("1. Call 911") beside a reply option with the same number ("Reply 1
    more") leaves a person in a hurry unsure what 1 does."""
    steps = set(_STEP.findall(text))
    options = set(_MENU_LINE.findall(text))
    for tail in _REPLY.findall(text):
        options |= set(re.findall(r"\b(\d)\b", tail))
    both = sorted(steps & options, key=int)
    return [f"numbers steps and reply options alike ({', '.join(both)}): number only one of "
            "them"] if both else []


# Spanish forms that are wrong in our messages without their accent: each either means another
# thing ("tomo" = I take, "llego" = I arrive, "mas" = but) or is an interrogative ("qué hacer",
# "cómo darla") that reads as a relative word. Reword to keep GSM-7, or keep the accent.
_UNACCENTED = re.compile(
    r"\b(tomo|llego|desperto|respiro mas|mas|aqui|ahi|asi|tambien|despues|telefono|numero|"
    r"dia|direccion|informacion|medico|musculo|rapido|facil)\b"
    r"|(?<!tienes )(?<!tiene )(?<!tengo )(?<!hay )\b(que|como|donde|cuando|cuanto|cuantas|cuantos)"
    r"\s+(hacer|dar|darla|darle|conseguir|conseguirla|llamar|usar|buscar|tomo|paso|es la)\b"
    r"|\by (cuando|cuantas|cuantos|donde)\s*[.,;\n]", re.I)


def spanish_accents(text: str) -> list[str]:
    hits = sorted({m.group(0).strip(" .,;\n") for m in _UNACCENTED.finditer(text)})
    return [f"drops an accent that changes the meaning: {', '.join(hits)!s} (reword for GSM-7, "
            "or keep the accent)"] if hits else []


def gsm7(text: str) -> list[str]:
    """One letter outside GSM-7 (á í ó ú, curly quotes) turns the whole text into UCS-2: 70
    characters a segment instead of 160."""
    if segments(text).encoding == "GSM-7":
        return []
    odd = sorted({ch for ch in text if segments(ch).encoding != "GSM-7"})
    return [f"is UCS-2 because of {''.join(odd)!r}: reword to keep GSM-7 (é ñ ü ¿ ¡ are "
            "GSM-7), or add the key to the rule's except list with the reason"]


CHECKS: dict[str, Callable[[str], list[str]]] = {
    "step_numbers": step_numbers, "spanish_accents": spanish_accents, "gsm7": gsm7}


# --- loading ------------------------------------------------------------------------------------
def load_rules(content_dir: Path, locales: Iterable[str]) -> list[Rule]:
    """Read and validate the rules; every rule must speak every language it applies to."""
    path = Path(content_dir) / RULES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(f"{path}: cannot read the safety rules: {exc}") from None
    locales = tuple(locales)
    rules, seen = [], set()
    for raw in data.get("rules") or ():
        rule = _rule(raw, locales, path.name)
        if rule.id in seen:
            raise RuleError(f"{path.name}: rule {rule.id!r} is defined twice")
        seen.add(rule.id)
        rules.append(rule)
    return rules


def _rule(raw: Mapping, locales: tuple[str, ...], file: str) -> Rule:
    rid = str((raw or {}).get("id") or "")
    where = f"{file}: rule {rid or '(no id)'}"
    if not rid or not raw.get("why") or not raw.get("source"):
        raise RuleError(f"{where}: needs an id, a why and a source")
    unknown = set(raw) - RULE_FIELDS
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(RULE_FIELDS)}")
    check = raw.get("check")
    if check is not None and check not in CHECKS:
        raise RuleError(f"{where}: unknown check {check!r}; known: {sorted(CHECKS)}")
    channels = tuple(raw.get("channels") or CHANNELS)
    if set(channels) - set(CHANNELS):
        raise RuleError(f"{where}: channels must be among {CHANNELS}")
    own = tuple(raw["locales"]) if raw.get("locales") else None
    patterns = {name: _patterns(raw.get(name), where, name) for name in PATTERN_FIELDS}
    if not (patterns["must"] or patterns["must_not"] or check):
        raise RuleError(f"{where}: says nothing (give must, must_not or check)")
    for name in ("must", "must_not"):
        given = patterns[name]
        if given and ANY_LOCALE not in given:
            missing = [loc for loc in (own or locales) if loc not in given]
            if missing:
                raise RuleError(f"{where}: {name} has no patterns for {missing}; add them "
                                f"(or '{ANY_LOCALE}', or list the rule's locales)")
    return Rule(rid, str(raw["why"]), _list(raw.get("screens") or "*"), _list(raw.get("except")),
                channels, own, patterns["when"], patterns["must"], patterns["must_not"], check)


def _list(value) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _patterns(value, where: str, name: str) -> dict[str, tuple[re.Pattern, ...]]:
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise RuleError(f"{where}: {name} must map a language ('en', 'es' or '*') to patterns")
    out = {}
    for locale, items in value.items():
        compiled = []
        for item in _list(items):
            try:
                compiled.append(re.compile(item, re.I | re.M))
            except re.error as exc:
                raise RuleError(f"{where}: {name}.{locale}: bad pattern {item!r}: {exc}") from None
        out[str(locale)] = tuple(compiled)
    return out


def check_renderings(rules: list[Rule], renderings: Iterable[tuple[str, str, str, str, str]]
                     ) -> list[str]:
    """Errors for (file, key, locale, channel, text) renderings that break a rule."""
    errors = []
    for file, key, locale, channel, text in renderings:
        for rule in rules:
            if rule.applies(key, locale, channel, text):
                errors += [f"{file}: {key} ({channel}): safety rule {rule.id!r}: {problem}"
                           for problem in rule.problems(locale, text)]
    return errors
