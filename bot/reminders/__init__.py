"""One-time reminders and "check on me": the screens (flow.py), the ledger kept in Redis
(ledger.py), the RQ job that sends them (jobs.py) and their content checks (checks.py).

May import: bot.conversation, bot.understanding, bot.storage, bot.outbound, bot.checkins (rules
and the send-queue names), bot.voice (the phone line's "remind me" key).
"""
