"""Talk to a person: a staffed text inbox, with the bot as the safety net (docs/inbox.md).

hours (the staffed schedule, pure), flow (engine hooks and the open-ticket gate, pure),
tickets (tickets and their messages in Redis, encrypted; claims, replies, notes, transfers,
closes; the key names are in bot/storage/keys.py), events (live updates over Redis pub/sub),
figures (waiting and first-reply times, handled, abandoned, by hour), timers and jobs (RQ
scheduled jobs: unclaimed, silent, idle, snooze; sending replies exactly once), host (wiring
into a built helpline). The console's views of it are bot/console/inbox_views.py.

May import: bot.conversation, bot.understanding, bot.storage, bot.privacy, bot.outbound,
bot.channels (Facts, textable), bot.checkins (the worker's runtime and queue names), bot.ops
(send counts), rq, redis, prometheus_client. Never bot.console: the console imports this.
"""
