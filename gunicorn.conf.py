"""gunicorn settings for production and `make run`; each value can be overridden by env vars."""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "sync" if threads == 1 else "gthread"
timeout = 20          # Twilio gives up after 15 s; a stuck worker is replaced soon after
graceful_timeout = 10
keepalive = 5
max_requests = 5000   # recycle workers now and then
max_requests_jitter = 500
accesslog = "-" if os.environ.get("ACCESS_LOG", "") == "on" else None
errorlog = "-"
# Access logs would carry no numbers (Twilio posts form bodies), but stay off by default.
