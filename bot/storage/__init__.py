"""Redis: the only code that knows key names (store.py; subscriptions' keys sit in
bot.checkins.scripts beside their Lua), held and pipelined connections (lane.py) and the shared
outbound send rate (ratelimit.py).

May import: redis and the standard library; nothing above it.
"""
