"""`flask content check` for reminders: a screen that offers one still fits three SMS segments
with the offer line under it, and so does the reminder it would send later; and on those screens
the phone's "press 7 for a text reminder" does not take a key the screen already uses.

The nearest-places screen is checked with the content's example (offer and reminder), and alone
with the longest three sites of the region's list and a long place name, since its real text
depends on where the person is: at runtime the offer is only made when it fits.
"""
from __future__ import annotations

from bot.conversation.checks import MAX_SMS_SEGMENTS
from bot.conversation.content import segments
from bot.reminders.flow import REMINDER_OFFER
from bot.voice.phone_tree import REMIND_KEY
from bot.voice.checks import example

LONG_PLACE = "55077 (Inver Grove Heights)"
NEARBY_KEY = "naloxone.nearby"


def offer_problems(helpline) -> list[str]:
    """Errors naming the file, node and what to shorten."""
    content, flow = helpline.content, helpline.flow
    errors = []
    offering = [n for n in flow.nodes.values() if n.offer == REMINDER_OFFER]
    for node in offering:
        if node.target(REMIND_KEY):
            errors.append(f"{node.file}: node {node.id!r}: option {REMIND_KEY!r} is the phone's "
                          "'text me a reminder' key on screens that offer one; use another")
    for locale in content.locales:
        offer = content.render(flow.node(REMINDER_OFFER).say, locale)
        header = content.render("reminders.header", locale)
        for node in offering:
            if node.say in content.entries[locale]:  # a missing key is the main check's error
                errors += _fit(helpline, locale, node, offer, header)
    return errors


def _fit(helpline, locale: str, node, offer: str, header: str) -> list[str]:
    content = helpline.content
    entry = content.entry(node.say, locale)
    screen = content.render(node.say, locale, "sms", example(content, locale, node.say))
    checks = [("with the reminder offer under it", screen + "\n\n" + offer),
              ("as a reminder", header + "\n" + screen)]
    if node.say == NEARBY_KEY:
        # At its longest, the places reply must fit alone: the offer is then left out (the
        # ReminderFlow only offers what fits), and so is the reminder it would have made.
        checks.append(("at its longest", content.render(node.say, locale, "sms",
                                                        worst_nearby(helpline, locale))))
    errors = []
    for what, text in checks:
        seg = segments(text)
        if seg.count > MAX_SMS_SEGMENTS:
            errors.append(f"{entry.file}: {node.say} (node {node.id!r}) {what} is {seg.count} "
                          f"segments ({seg.encoding}, {seg.units} units); the limit is "
                          f"{MAX_SMS_SEGMENTS}: shorten the screen or reminders.offer")
    return errors


def worst_nearby(helpline, locale: str) -> dict:
    """The nearest-places screen at its longest: the example's rows with the longest sites."""
    params = example(helpline.content, locale, NEARBY_KEY)
    located = [s for s in helpline.locator.sites if s.located]   # only these are ever ranked
    sites = sorted(located, key=lambda s: len(s.short_name) + len(s.town) + len(s.phone),
                   reverse=True)
    months = ("2026-01-05", "2026-09-30", "2026-11-25")   # checked in different months
    rows = [dict(row, name=s.name, short_name=s.short_name, town=s.town, phone=s.phone,
                 miles=188.8, checked=month)
            for row, s, month in zip(params.get("results") or [], sites, months)]
    return dict(params, place=LONG_PLACE, results=rows, more=True)
