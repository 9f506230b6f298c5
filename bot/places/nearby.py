"""'Naloxone near 55811': the engine's place rules, built on the pure locator.

A ZIP or town anywhere gets the nearest sites, and so does one named inside a message about places
(the engine passes Meaning.place); at the naloxone prompt a wrong ZIP gets a retry
prompt; MORE pages on from the last place. Text that is not a place falls through untouched.
Only the sites offered that day are named (`sites.at(now)`: active and recently verified), each
with the month it was last checked.

After a places reply, "WRONG B" (EQUIVOCADO B: the words are the `wrong` command of each
keywords.yaml) thanks the person and emits a `site_report` event naming the site, which the
host files for review (reports.py). WRONG alone asks which letter. Nothing about the person is
in the event.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from bot.conversation.engine import Engine, Event, Outcome, Reply, State
from bot.places.locator import FOUND, INVALID_ZIP, OUT_OF_REGION
from bot.understanding.keywords import fold

PAGE = 3
NODE = "nearby"
WRONG = "wrong"          # the command name in keywords.yaml
REPORT = "site_report"   # the event the host files


def label(rank: int) -> str:
    """A place's letter in the list (1 -> A, 27 -> AA): letters, because the reply options under
    the list are numbers ("Reply 1 other areas") and a number in a message means one thing
    (the safety rule steps-and-options-numbered-apart)."""
    text = ""
    while rank > 0:
        rank, left = divmod(rank - 1, 26)
        text = chr(ord("A") + left) + text
    return text


def _rank(word: str) -> str | None:
    """'b' -> '2' (the letter shown), '2' -> '2' (a number still names the same place)."""
    if word.isdigit():
        return word
    if word.isascii() and word.isalpha() and len(word) <= 2:
        rank = 0
        for ch in word.upper():
            rank = rank * 26 + ord(ch) - ord("A") + 1
        return str(rank)
    return None


def _results(pairs, offset: int = 0) -> list[dict]:
    """Ranked across pages: MORE shows D, E, F, not A, B, C again."""
    return [{"id": s.id, "name": s.name, "short_name": s.short_name, "town": s.town,
             "phone": s.phone, "miles": round(miles, 1), "rank": offset + i,
             "label": label(offset + i), "checked": s.verified}
            for i, (s, miles) in enumerate(pairs, 1)]


def _show(engine: Engine, state: State, locator, place: dict, offset: int,
          remember: bool = True) -> Outcome:
    pairs = locator.nearest(place["lat"], place["lon"], n=PAGE, offset=offset)
    if not pairs:
        return Outcome(state, (Reply("naloxone.no_more"),))
    more = offset + PAGE < locator.located_count
    results = _results(pairs, offset)
    outcome = engine.enter(state, NODE, params={"place": place["label"],
                                                "results": results, "more": more},
                           remember=remember)
    earlier = (place.get("shown") or {}) if offset else {}   # a new place starts a new list
    shown = dict(earlier, **{str(r["rank"]): [r["id"], r["short_name"]] for r in results})
    kept = dict(outcome.state.vars, keep_place=dict(place, offset=offset, shown=shown))
    return replace(outcome, state=replace(outcome.state, vars=kept))


def handlers(sites) -> dict:
    """Engine hooks: 'place' (anywhere), 'place:named' (found by the understanding inside a
    message about places), 'expects:place' (at the prompt), 'command:more', 'command:wrong'.
    `sites.at(now)` is the Locator of the sites offered at that time (a plain Locator offers all)."""

    def answer(engine: Engine, state: State, text: str, now, strict: bool):
        reported = _wrong(engine, state, text)
        if reported is not None:
            return reported
        locator = sites.at(now)
        lookup = locator.classify(text)
        if lookup.status == FOUND:
            p = lookup.place
            place = {"label": p.label, "lat": p.lat, "lon": p.lon, "day": now.date().isoformat()}
            return _show(engine, state, locator, place, 0)
        if lookup.status == OUT_OF_REGION:
            return _say(engine, state, "naloxone.out_of_region",
                        {"place": lookup.place.label, "state": lookup.place.state})
        if lookup.status == INVALID_ZIP and (strict or len(lookup.query) in (4, 5)):
            return _say(engine, state, "naloxone.bad_zip", {"text": lookup.query})
        return None

    def anywhere(engine, state, text, now, ctx):
        return answer(engine, state, text, now, strict=False)

    def at_prompt(engine, state, text, now, ctx):
        return answer(engine, state, text, now, strict=True)

    def named(engine, state, place, now, ctx):
        """A place the understanding found inside a message about places ("narcan in hope"):
        a place for sure, so a town named like a word counts, as "Hope, MN" does."""
        text = place if place.isdigit() else f"{place}, {sites.at(now).state}"
        return answer(engine, state, text, now, strict=False)

    def more(engine, state, ctx, now, folded):
        place = state.vars.get("keep_place")
        if not place:  # at a screen that asks for a place, ask again; elsewhere it is a word
            asks = engine.flow.node(state.node).expects == "place"
            return _say(engine, state, "naloxone.ask_place", {}) if asks else None
        return _show(engine, state, sites.at(now), place, place.get("offset", 0) + PAGE)

    def wrong_alone(engine, state, ctx, now, folded):
        """WRONG with no number, after a places reply: which one? Elsewhere it is a word."""
        if not (state.vars.get("keep_place") or {}).get("shown"):
            return None
        return Outcome(state, (Reply("naloxone.wrong_which"),))

    def screen(engine, state, ctx):
        """BACK to the places screen shows the same page again, or the prompt if none was found
        (with the sites offered on the day the place was asked for: hooks have no clock)."""
        place = state.vars.get("keep_place")
        if not place:
            return _say(engine, state, "naloxone.ask_place", {}, remember=False)
        day = datetime.fromisoformat(place.get("day") or "2000-01-01").replace(tzinfo=timezone.utc)
        return _show(engine, state, sites.at(day), place, place.get("offset", 0), remember=False)

    return {"place": anywhere, "place:named": named, "expects:place": at_prompt, "command:more": more,
            f"command:{WRONG}": wrong_alone, f"screen:{NODE}": screen}


def _wrong(engine: Engine, state: State, text: str) -> Outcome | None:
    """'WRONG B' / 'equivocado b' (the letter shown), or 'WRONG 2' / '2 wrong' / 'wrong #2', after
    a places reply: thank, and report the site once per conversation. None when the message is
    not that (it is read as usual)."""
    place = state.vars.get("keep_place") or {}
    shown = place.get("shown")
    words = fold(text).split()
    if not shown or not 2 <= len(words) <= 4:
        return None
    numbers = [w for w in words if w.isdigit()]
    if len(numbers) > 1 or (numbers and words[0] != numbers[0] != words[-1]):
        return None
    given = numbers[0] if numbers else words[-1]    # a letter only at the end: "a wrong number"
    number = _rank(given)
    if number is None or (len(given) > 1 and not given.isdigit() and number not in shown):
        return None    # "wrong me" is not a report; "wrong z" asks which
    rest = " ".join(words[1:] if given == words[0] else words[:-1])
    hit = engine.lexicons.command(rest, state.locale) if rest else None
    if hit is None or hit[0] != WRONG:
        return None
    if number not in shown:
        return Outcome(state, (Reply("naloxone.wrong_which"),))
    site_id, short_name = shown[number]
    reported = list(place.get("reported") or [])
    events = () if site_id in reported else (Event(REPORT, {"site": site_id, "rank": int(number)}),)
    kept = dict(state.vars, keep_place=dict(place, reported=reported + [site_id]))
    return Outcome(replace(state, vars=kept),
                   (Reply("naloxone.wrong_thanks", {"name": short_name}),), events)


def _say(engine: Engine, state: State, key: str, params: dict, remember: bool = True) -> Outcome:
    """A place answer that keeps the person at the naloxone prompt, so a retry is read as a place.
    The last place found is forgotten: MORE or BACK must not page on from an earlier ZIP."""
    outcome = engine.enter(state, NODE, remember=remember)
    kept = {k: v for k, v in outcome.state.vars.items() if k != "keep_place"}
    return replace(outcome, state=replace(outcome.state, vars=kept), replies=(Reply(key, params),))
