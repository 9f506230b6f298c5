"""Naloxone sites near a ZIP code or town: the offline locator (locator.py), the engine hooks
that answer "where do I get naloxone" and read WRONG B (nearby.py), the content check of the
sites file (checks.py), and the sites as managed data: one site and its checks (sites.py), the
system of record in Redis with review and history (registry.py), each process's live copy
(live.py), the WRONG queue (reports.py), Open Referral HSDS CSV (hsds.py), the YAML file
(yamlfile.py) and `flask places` (cli.py).

May import: bot.conversation, bot.understanding, bot.storage (key names), redis, the region data
under content/<region>/. The engine hooks (nearby.py) stay pure: they read the live copy in
memory, never Redis.
"""
