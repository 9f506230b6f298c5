"""Recurring check-in texts: the rules (rules.py), subscriptions and their Lua scripts
(subscriptions.py, scripts.py), the sign-up and control screens (flow.py, host.py), the
dispatcher (dispatch.py), the RQ jobs that send them exactly once (jobs.py) and the CLI (cli.py).

May import: bot.conversation, bot.understanding, bot.storage, bot.privacy, bot.outbound, bot.ops
(metrics). The web process imports only flow.py and host.py; jobs are enqueued by dotted name.
"""
