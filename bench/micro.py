"""Engine cost in microseconds: one conversation step, one ZIP lookup, one content render.

Repeated short messages ("2", "narcan") and screens without values are served from memos after
their first time, as in production; step_unseen_text_us is a message never seen before."""
from __future__ import annotations

import timeit
from datetime import datetime, timezone

from bot.conversation.engine import State


def per_call_us(fn, number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return round(best / number * 1e6, 2)


def run(helpline) -> dict:
    engine, content, locator = helpline.engine, helpline.content, helpline.locator
    now = datetime(2026, 11, 25, 15, tzinfo=timezone.utc)
    menu = State(node="main")
    nearby_params = engine.step(None, "55811", now).replies[0].params
    classify = type(locator).classify.__wrapped__  # without the memo
    return {
        "step_digit_us": per_call_us(lambda: engine.step(menu, "2", now), 5000),
        "step_words_us": per_call_us(lambda: engine.step(menu, "where do i get narcan", now), 5000),
        "step_emergency_us": per_call_us(lambda: engine.step(menu, "my friend wont wake up", now), 5000),
        "step_unseen_text_us": per_call_us(
            lambda: engine.step(menu, f"qwerty {timeit.default_timer()}", now), 500),
        # A place is read once per distinct text, then memoised (Locator.classify): the first
        # reading is the cost; the repeat is what most texts ("1", "hi") pay.
        "zip_lookup_us": per_call_us(lambda: classify(locator, "55811"), 5000),
        "town_lookup_us": per_call_us(lambda: classify(locator, "st cloud"), 5000),
        "place_lookup_repeat_us": per_call_us(lambda: locator.classify("55811"), 5000),
        "render_menu_us": per_call_us(lambda: content.render("menu.main", "en"), 5000),
        # A screen without values is rendered once and then served from a memo; this is that once.
        "render_menu_first_us": per_call_us(lambda: content._render("menu.main", "en", "sms", {}), 5000),
        "render_nearby_us": per_call_us(
            lambda: content.render("naloxone.nearby", "en", "sms", nearby_params), 5000),
    }
