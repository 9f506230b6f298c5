"""Naloxone sites near a ZIP code or town: the offline locator (locator.py) and the engine hooks
that answer "where do I get naloxone" (nearby.py).

May import: bot.conversation, bot.understanding, the region data under content/<region>/.
"""
