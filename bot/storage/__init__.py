"""Redis: every key name (keys.py), the conversation's reads and atomic commits (store.py),
held and pipelined connections (lane.py) and the shared outbound send rate (ratelimit.py).

May import: redis and the standard library; nothing above it. Feature packages that keep their
own state (check-ins, reminders) take their key names from keys.py.
"""
