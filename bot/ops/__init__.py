"""Running the service: /healthz (health.py), /metrics (metrics.py), JSON logs with masked
numbers (logs.py), the RQ scheduler's recovery (scheduling.py),
the deployment check (doctor.py) and the operator CLI: chat, flows and content checks, doctor
(cli.py).

May import any layer below the web app, but no feature package and not the console (RQ's
dashboard, guarded by the console's admins, lives in bot/console/queues.py). The console reads health
from here; channels and jobs bump the metrics.
"""
