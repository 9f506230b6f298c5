"""'Naloxone near 55811': the engine's place rules, built on the pure locator.

A ZIP or town anywhere gets the nearest sites, and so does one named inside a message about places
(the engine passes Meaning.place); at the naloxone prompt a wrong ZIP gets a retry
prompt; MORE pages on from the last place. Text that is not a place falls through untouched.
"""
from __future__ import annotations

from dataclasses import replace

from bot.conversation.engine import Engine, Outcome, Reply, State
from bot.places.locator import FOUND, INVALID_ZIP, OUT_OF_REGION, Locator

PAGE = 3
NODE = "nearby"


def _results(pairs, offset: int = 0) -> list[dict]:
    """Ranked across pages: MORE shows 4, 5, 6, not 1, 2, 3 again."""
    return [{"name": s.name, "short_name": s.short_name, "town": s.town, "phone": s.phone,
             "miles": round(miles, 1), "rank": offset + i}
            for i, (s, miles) in enumerate(pairs, 1)]


def _show(engine: Engine, state: State, locator: Locator, place: dict, offset: int,
          remember: bool = True) -> Outcome:
    pairs = locator.nearest(place["lat"], place["lon"], n=PAGE, offset=offset)
    if not pairs:
        return Outcome(state, (Reply("naloxone.no_more"),))
    more = offset + PAGE < len(locator.located)
    outcome = engine.enter(state, NODE, params={"place": place["label"],
                                                "results": _results(pairs, offset), "more": more},
                           remember=remember)
    kept = dict(outcome.state.vars, keep_place=dict(place, offset=offset))
    return replace(outcome, state=replace(outcome.state, vars=kept))


def handlers(locator: Locator) -> dict:
    """Engine hooks: 'place' (anywhere), 'place:named' (found by the understanding inside a
    message about places), 'expects:place' (at the prompt), 'command:more'."""

    def answer(engine: Engine, state: State, text: str, strict: bool):
        lookup = locator.classify(text)
        if lookup.status == FOUND:
            p = lookup.place
            place = {"label": p.label, "lat": p.lat, "lon": p.lon}
            return _show(engine, state, locator, place, 0)
        if lookup.status == OUT_OF_REGION:
            return _say(engine, state, "naloxone.out_of_region",
                        {"place": lookup.place.label, "state": lookup.place.state})
        if lookup.status == INVALID_ZIP and (strict or len(lookup.query) in (4, 5)):
            return _say(engine, state, "naloxone.bad_zip", {"text": lookup.query})
        return None

    def anywhere(engine, state, text, now, ctx):
        return answer(engine, state, text, strict=False)

    def at_prompt(engine, state, text, now, ctx):
        return answer(engine, state, text, strict=True)

    def named(engine, state, place, now, ctx):
        """A place the understanding found inside a message about places ("narcan in hope"):
        a place for sure, so a town named like a word counts, as "Hope, MN" does."""
        text = place if place.isdigit() else f"{place}, {locator.state}"
        return answer(engine, state, text, strict=False)

    def more(engine, state, ctx, now, folded):
        place = state.vars.get("keep_place")
        if not place:  # at a screen that asks for a place, ask again; elsewhere it is a word
            asks = engine.flow.node(state.node).expects == "place"
            return _say(engine, state, "naloxone.ask_place", {}) if asks else None
        return _show(engine, state, locator, place, place.get("offset", 0) + PAGE)

    def screen(engine, state, ctx):
        """BACK to the places screen shows the same page again, or the prompt if none was found."""
        place = state.vars.get("keep_place")
        if not place:
            return _say(engine, state, "naloxone.ask_place", {}, remember=False)
        return _show(engine, state, locator, place, place.get("offset", 0), remember=False)

    return {"place": anywhere, "place:named": named, "expects:place": at_prompt, "command:more": more,
            f"screen:{NODE}": screen}


def _say(engine: Engine, state: State, key: str, params: dict, remember: bool = True) -> Outcome:
    """A place answer that keeps the person at the naloxone prompt, so a retry is read as a place.
    The last place found is forgotten: MORE or BACK must not page on from an earlier ZIP."""
    outcome = engine.enter(state, NODE, remember=remember)
    kept = {k: v for k, v in outcome.state.vars.items() if k != "keep_place"}
    return replace(outcome, state=replace(outcome.state, vars=kept), replies=(Reply(key, params),))

