"""The Redis client every process uses, with the timeouts that keep a webhook answering.

Here, in storage, so the console (which wants its own fail-fast client) and the composition
root both build it without the console importing the composition root."""
from __future__ import annotations

import redis
import redis_sentinel_url
from redis.backoff import NoBackoff
from redis.retry import Retry


def connect(settings, timeout: float | None = None,
            retries: int | None = None) -> redis.Redis:
    """Short timeouts: a webhook must answer from its fallback rather than hang on Redis.
    `settings` is bot.config.Settings (its redis_url and redis_timeout; storage imports no
    settings module: tests/test_layout.py).

    REDIS_URL may name Sentinels instead of one server,
    redis+sentinel://[:password@]host:26379,host2:26379/<master name>/<db>, the format
    rq-dashboard reads too; the client then follows the master through a failover.
    `timeout` and `retries` override REDIS_TIMEOUT_SECONDS and redis-py's default of 3 retries
    with backoff (the console fails fast: one immediate retry, for a connection gone stale).
    """
    timeout = settings.redis_timeout if timeout is None else timeout
    options = dict(socket_timeout=timeout, socket_connect_timeout=timeout,
                   health_check_interval=30)
    if retries is not None:
        options.update(retry=Retry(NoBackoff(), retries), health_check_interval=0)
    if settings.redis_url.startswith("redis+sentinel://"):
        timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
        _, client = redis_sentinel_url.connect(settings.redis_url, sentinel_options=timeouts,
                                               client_options=options, client_class=redis.Redis)
        return client
    return redis.Redis.from_url(settings.redis_url, **options)
