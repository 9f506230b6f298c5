"""Prometheus metrics: counters kept by each web process, and gauges read from Redis at scrape time.

Under gunicorn (several worker processes) prometheus_client's multiprocess mode sums the workers'
counters: gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker starts. A single
process (flask run, tests) uses the default registry. Numbers that live in Redis (outbound sends,
subscribers, queues) are read when /metrics is scraped, so they cover every machine at once.
"""
from __future__ import annotations

import collections
import logging
import os
import time
from datetime import datetime, timezone
from typing import Iterator

import redis
from flask import Flask, g, has_request_context, request
from prometheus_client import (CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, CollectorRegistry, Counter,
                               Histogram, disable_created_metrics, generate_latest, multiprocess)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from rq import Queue, Worker

from bot.storage.store import count_sends

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
DEFAULT_QUEUES = ("default", "outbound")  # bot/checkins/jobs.py's; reported before their first job
UNTRACKED_BLUEPRINTS = frozenset({"ops", "rq_dashboard"})
SEND_RESULTS = ("sent", "retry", "failed", "skipped")
SIGNALS = ("emergency", "crisis")
# Twilio waits 15 s; the buckets that matter are the low milliseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
REDIS_ERRORS = (redis.RedisError, OSError)

WEBHOOK_REQUESTS = Counter("helpline_webhook_requests", "Webhook requests answered.",
                           ["endpoint", "outcome"])
WEBHOOK_SECONDS = Histogram("helpline_webhook_duration_seconds",
                            "Time to answer a webhook, in seconds.", ["endpoint", "outcome"],
                            buckets=LATENCY_BUCKETS)
EMERGENCY_REPLIES = Counter("helpline_emergency_replies",
                            "Replies with the emergency (overdose) or crisis steps.",
                            ["kind", "channel"])
MENU_VISITS = Counter("helpline_menu_visits", "Screens shown, by flow node.", ["node"])


# --- recording: called on the request path, so each is a few dictionary and mmap writes ---------
_children: dict = {}


def child(metric, *labels):
    """metric.labels(*labels), kept: labels() validates and locks on every call, and the same
    few label sets come back on every request. Per process, as the children are."""
    key = (metric, labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def init_app(app: Flask) -> None:
    """Time every webhook request and count it by endpoint and outcome."""
    disable_created_metrics()  # the *_created series only double the output
    app.before_request(_start_timer)
    app.after_request(_observe)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response):
    rule = request.url_rule
    started = g.pop("metrics_started", None)
    if rule is None or started is None or request.blueprint in UNTRACKED_BLUEPRINTS:
        return response
    outcome = g.pop("metrics_outcome", None) or outcome_of(response.status_code)
    child(WEBHOOK_REQUESTS, rule.rule, outcome).inc()
    child(WEBHOOK_SECONDS, rule.rule, outcome).observe(time.perf_counter() - started)
    return response


def outcome_of(status: int) -> str:
    """A handful of outcomes an operator can alert on; 403 is almost always a bad signature."""
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "rejected"
    return "client_error" if status < 500 else "error"


def mark_outcome(outcome: str) -> None:
    """Let the code that knows (e.g. 'degraded': answered without Redis) name the outcome."""
    if has_request_context():
        g.metrics_outcome = outcome


def record_turn(outcome, channel: str) -> None:
    """Count the screen shown and, when the message signalled one, the emergency or crisis reply."""
    if outcome is None:  # a redelivered message: counted the first time
        return
    child(MENU_VISITS, outcome.node).inc()
    if outcome.signal in SIGNALS:
        child(EMERGENCY_REPLIES, outcome.signal, channel).inc()


def send_label(result) -> str:
    """'sent', 'retry', 'failed' from a bot.outbound.sender.SendResult; 'skipped' etc. as a string."""
    if isinstance(result, str):
        return result if result in SEND_RESULTS else "other"
    if result.ok:
        return "sent"
    return "retry" if result.retryable else "failed"


def record_send(connection: redis.Redis, result, pipe=None) -> None:
    """Count one outbound text in Redis, where the web process can report it for every worker.

    Call it where a job sends: `metrics.record_send(job.connection, sender.send(to, body))`;
    pass `pipe` to make the count part of the job's own transaction.
    """
    record_sends(pipe if pipe is not None else connection, [result])


def record_sends(target, results) -> None:
    """Count a batch's outbound texts: one HINCRBY per result label, not one per text."""
    count_sends(target, collections.Counter(send_label(result) for result in results))


# --- exposition -----------------------------------------------------------------------------------
def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class _ProcessRegistry:
    """The default registry as one collector, so a per-scrape registry can hold it beside Redis."""

    def collect(self):
        return REGISTRY.collect()


def exposition(helpline) -> bytes:
    """The Prometheus text for one scrape: this process's (or all workers') counters plus Redis."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    registry.register(RedisCollector(helpline))
    return generate_latest(registry)


class RedisCollector:
    """Gauges computed from Redis when scraped; a Redis outage reports helpline_redis_up 0."""

    def __init__(self, helpline):
        self.helpline = helpline

    def collect(self) -> Iterator:
        up = GaugeMetricFamily("helpline_redis_up", "1 when Redis answered this scrape.")
        try:
            families = list(self._families())
        except REDIS_ERRORS as exc:
            log.warning("metrics: Redis did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator:
        helpline = self.helpline
        depth = GaugeMetricFamily("helpline_queue_depth", "Jobs waiting in each RQ queue.",
                                  labels=["queue"])
        lag = GaugeMetricFamily("helpline_queue_lag_seconds",
                                "Age of the oldest job waiting in each RQ queue.", labels=["queue"])
        for name, stats in queue_stats(helpline.redis).items():
            depth.add_metric([name], stats["depth"])
            lag.add_metric([name], stats["lag_seconds"])
        yield depth
        yield lag
        workers = GaugeMetricFamily("helpline_rq_workers", "RQ workers registered and alive.")
        workers.add_metric([], len(Worker.all(connection=helpline.redis)))
        yield workers
        sends = CounterMetricFamily("helpline_outbound_sends", "Outbound texts by result "
                                    "(all workers, from Redis).", labels=["result"])
        counts = dict.fromkeys(SEND_RESULTS, 0) | helpline.store.sends()
        for result, count in sorted(counts.items()):
            sends.add_metric([result], count)
        yield sends
        for families in helpline.extras.get("metric_families", ()):  # e.g. bot/inbox/host.py
            yield from families()
        count = subscriber_counter(helpline)
        if count is not None:
            subscribers = GaugeMetricFamily("helpline_checkin_subscribers",
                                            "People opted in to check-in texts.")
            subscribers.add_metric([], count())
            yield subscribers


def subscriber_counter(helpline):
    """The check-ins module registers `subscriber_count` (a callable) in helpline.extras."""
    return helpline.extras.get("subscriber_count")


def queue_stats(connection: redis.Redis, now: datetime | None = None) -> dict[str, dict]:
    """Depth and lag (age of the oldest waiting job, 0 when empty) of every RQ queue."""
    now = now or datetime.now(timezone.utc)
    queues = {q.name: q for q in Queue.all(connection=connection)}
    for name in DEFAULT_QUEUES:
        queues.setdefault(name, Queue(name, connection=connection))
    stats = {}
    for name, queue in sorted(queues.items()):
        depth = queue.count
        stats[name] = {"depth": depth, "lag_seconds": _lag(queue, now) if depth else 0.0}
    return stats


def _lag(queue: Queue, now: datetime) -> float:
    ids = queue.get_job_ids(0, 1)
    job = queue.fetch_job(ids[0]) if ids else None
    if job is None or job.enqueued_at is None:
        return 0.0
    enqueued = job.enqueued_at
    if enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=timezone.utc)
    return round(max(0.0, (now - enqueued).total_seconds()), 3)
