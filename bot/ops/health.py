"""GET /healthz and GET /metrics: what an operator, a load balancer and Prometheus look at.

/healthz answers 200 whenever Redis answers, because the web process can then do its whole job
(answer texts and calls); a missing RQ worker, scheduler or dispatcher run makes the status
"degraded" with the reasons listed, still 200. It answers 503 only when Redis does not answer,
and never 500: any other failure of a check is reported in the JSON.
"""
from __future__ import annotations

import hmac
import logging
import time
from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, jsonify, request
from rq import Worker

from bot.ops import metrics
from bot.ops.scheduling import lock_state

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)
DISPATCH_STALE_SECONDS = 300  # the dispatcher runs every minute: five missed runs are a stall
NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz():
    report = check_health(current_app.config["HELPLINE"], datetime.now(timezone.utc))
    return jsonify(report), (200 if report["redis"]["ok"] else 503), NO_STORE


@bp.get("/metrics")
def metrics_view():
    helpline = current_app.config["HELPLINE"]
    token = helpline.settings.metrics_token
    if token and not bearer_matches(request.headers.get("Authorization", ""), token):
        return Response("401 Unauthorized: send Authorization: Bearer <METRICS_TOKEN>\n",
                        status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"', **NO_STORE})
    return Response(metrics.exposition(helpline), headers={"Content-Type": metrics.CONTENT_TYPE,
                                                           **NO_STORE})


def bearer_matches(header: str, token: str) -> bool:
    """Constant-time compare, so response timing does not reveal how much of a guess was right."""
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def check_health(helpline, now: datetime) -> dict:
    """Redis first (it decides 200 or 503), then the background machinery, each fault named."""
    redis_report = ping(helpline.redis)
    if not redis_report["ok"]:
        return {"status": "down", "redis": redis_report, "reasons": ["Redis does not answer"]}
    report: dict = {"status": "ok", "redis": redis_report}
    try:
        report.update(background(helpline, now))
    except Exception as exc:  # a half-answered check must not turn into a 500
        log.warning("healthz: background checks failed: %s", type(exc).__name__)
        report["error"] = f"background checks failed: {type(exc).__name__}"
        report["reasons"] = ["could not read the queues, workers or dispatcher state"]
    if report.get("reasons"):
        report["status"] = "degraded"
    return report


def ping(client) -> dict:
    started = time.perf_counter()
    try:
        client.ping()
    except Exception as exc:  # connection refused, timeout, auth, loading: all mean "not usable"
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def background(helpline, now: datetime) -> dict:
    """Queues, workers, scheduler and the last check-in dispatch, with reasons for 'degraded'."""
    connection = helpline.redis
    queues = metrics.queue_stats(connection, now)
    workers = len(Worker.all(connection=connection))
    # A lock alone is no proof: a killed scheduler's lock outlives it by a minute. Alive means
    # its owner's heartbeat is recent (and, on this host, its process exists).
    locks = {name: lock_state(connection, name, now) for name in queues}
    scheduled = sorted(name for name, state in locks.items() if state["live"])
    stale = sorted(name for name, state in locks.items() if state["owner"] and not state["live"])
    last = helpline.store.last_dispatch()
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    age = round((now - last).total_seconds(), 1) if last else None
    reasons = []
    if not workers:
        reasons.append("no RQ worker is running (start: python worker.py)")
    if not scheduled:
        reasons.append("no RQ scheduler holds a queue (the worker runs it)")
    if stale:
        reasons.append("a stopped scheduler's lock remains on " + ", ".join(stale)
                       + " (a running worker takes it over within a minute)")
    if last is None:
        reasons.append("the check-in dispatcher has never run")
    elif age > DISPATCH_STALE_SECONDS:
        reasons.append(f"the check-in dispatcher last ran {int(age)} s ago")
    return {"queues": queues, "workers": workers,
            "scheduler": {"alive": bool(scheduled), "queues": scheduled},
            "last_dispatch": {"at": last.isoformat(), "age_seconds": age} if last else None,
            "reasons": reasons}
