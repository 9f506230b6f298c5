"""Naloxone sites near a ZIP code or town: the offline locator (locator.py) and the engine hooks
that answer "where do I get naloxone" (nearby.py), and the content check of the sites file
(checks.py).

May import: bot.conversation, bot.understanding, the region data under content/<region>/.
"""
