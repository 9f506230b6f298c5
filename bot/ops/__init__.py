"""Running the service: /healthz (health.py), /metrics (metrics.py), JSON logs with masked
numbers (logs.py), the RQ dashboard (admin.py) and the operator CLI: chat, flows and content
checks (cli.py).

May import any layer below the web app; nothing imports bot.ops except the app factory, the
worker and the metrics counters the channels bump.
"""
