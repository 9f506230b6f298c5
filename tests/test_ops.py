"""GET /healthz and GET /metrics against a real Redis, driven by real signed webhooks."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import rq
from prometheus_client.parser import text_string_to_metric_families
from rq.scheduler import RQScheduler

from bot import create_app

from bot.ops import metrics
from bot.outbound.sender import TwilioSender
from tests.conftest import ROOT, Texter, make_settings
from tests.signing import post_signed, sms_form
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

DOWN_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


def scrape(client, **headers) -> dict:
    """Every sample of one /metrics answer, parsed as Prometheus parses it."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture()
def down_app(redis_client):
    return create_app(make_settings(DOWN_URL))


# --- /healthz -------------------------------------------------------------------------------------
def test_healthz_answers_200_with_redis_and_names_what_is_missing(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    report = response.get_json()
    assert report["redis"]["ok"] is True and report["redis"]["latency_ms"] >= 0
    assert report["queues"]["default"] == {"depth": 0, "lag_seconds": 0.0}
    assert report["workers"] == 0 and report["scheduler"] == {"alive": False, "queues": []}
    assert report["last_dispatch"] is None
    assert report["status"] == "degraded"
    assert any("worker" in reason for reason in report["reasons"])
    assert any("never run" in reason for reason in report["reasons"])


def test_healthz_is_ok_with_a_worker_its_scheduler_and_a_recent_dispatch(client, helpline,
                                                                          redis_client):
    queue = rq.Queue("default", connection=redis_client)
    queue.enqueue("os.getcwd")
    worker = rq.Worker([queue], connection=redis_client)
    worker.register_birth()
    scheduler = RQScheduler(["default"], connection=redis_client)
    assert scheduler.acquire_locks() == {"default"}
    scheduler.register_birth()  # its heartbeat: a lock alone no longer counts as alive
    helpline.store.mark_dispatched(datetime.now(timezone.utc) - timedelta(minutes=2))
    try:
        report = client.get("/healthz").get_json()
    finally:
        scheduler.release_locks()
        scheduler.register_death()
        worker.register_death()

    assert report["status"] == "ok" and report["reasons"] == []
    assert report["workers"] == 1
    assert report["scheduler"] == {"alive": True, "queues": ["default"]}
    assert report["queues"]["default"]["depth"] == 1
    assert 110 <= report["last_dispatch"]["age_seconds"] <= 300


def test_healthz_shows_the_dispatch_a_real_worker_just_ran(client, redis_url):
    env = {**os.environ, "REDIS_URL": redis_url, "HELPLINE_ENV": "test"}
    subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=60)

    report = client.get("/healthz").get_json()

    assert report["last_dispatch"] is not None and report["last_dispatch"]["age_seconds"] < 600
    assert not any("dispatcher" in reason for reason in report["reasons"])
    assert report["workers"] == 0  # a burst worker leaves when the queues are empty


def test_healthz_reports_a_stalled_dispatcher(client, helpline):
    helpline.store.mark_dispatched(datetime.now(timezone.utc) - timedelta(hours=3))

    report = client.get("/healthz").get_json()

    assert report["status"] == "degraded"
    assert any("dispatcher last ran" in reason for reason in report["reasons"])


def test_healthz_never_500s_when_a_check_reads_garbage(client, redis_client):
    from bot.storage.keys import DISPATCH_KEY
    redis_client.set(DISPATCH_KEY, "not a time")

    response = client.get("/healthz")

    assert response.status_code == 200
    report = response.get_json()
    assert report["status"] == "degraded" and "ValueError" in report["error"]


def test_without_redis_the_app_starts_healthz_says_503_and_texts_still_get_the_steps(down_app):
    client = down_app.test_client()

    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "down"
    assert response.get_json()["redis"] == {"ok": False, "error": "ConnectionError"}
    assert "911" in Texter(client).send("he is not breathing")


def test_queue_lag_is_the_age_of_the_oldest_waiting_job(redis_client):
    queue = rq.Queue("outbound", connection=redis_client)
    queue.enqueue("os.getcwd")
    queue.enqueue("os.getcwd")
    later = datetime.now(timezone.utc) + timedelta(seconds=90)

    stats = metrics.queue_stats(redis_client, later)

    assert stats["outbound"]["depth"] == 2
    assert 90 <= stats["outbound"]["lag_seconds"] < 150
    assert stats["default"] == {"depth": 0, "lag_seconds": 0.0}


# --- /metrics -------------------------------------------------------------------------------------
def test_an_emergency_text_moves_the_counters_once_even_if_twilio_retries(client):
    before = scrape(client)
    form = sms_form("+16125550123", "he's not breathing")
    for _ in range(2):  # Twilio redelivers the same MessageSid
        assert post_signed(client, "/sms", form).status_code == 200
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("helpline_emergency_replies_total", kind="emergency", channel="sms") == 1
    assert moved("helpline_menu_visits_total", node="emergency") == 1
    assert moved("helpline_webhook_requests_total", endpoint="/sms", outcome="ok") == 2
    assert moved("helpline_webhook_duration_seconds_count", endpoint="/sms", outcome="ok") == 2


def test_crisis_texts_forged_requests_and_menu_visits_are_counted(client):
    before = scrape(client)
    Texter(client, "+16125550144").send("i want to die")
    Texter(client, "+16125550145").send("menu")
    forged = client.post("/sms", data=sms_form("+16125550146", "hi"),
                         headers={"X-Twilio-Signature": "forged"})
    after = scrape(client)

    assert forged.status_code == 403
    assert (value(after, "helpline_emergency_replies_total", kind="crisis", channel="sms")
            - value(before, "helpline_emergency_replies_total", kind="crisis", channel="sms")) == 1
    assert (value(after, "helpline_webhook_requests_total", endpoint="/sms", outcome="rejected")
            - value(before, "helpline_webhook_requests_total", endpoint="/sms",
                    outcome="rejected")) == 1
    assert (value(after, "helpline_menu_visits_total", node="main")
            - value(before, "helpline_menu_visits_total", node="main")) == 1


def test_metrics_read_queues_workers_and_sends_from_redis(client, helpline, redis_client):
    rq.Queue("outbound", connection=redis_client).enqueue("os.getcwd")
    with FakeTwilio() as twilio:
        sender = TwilioSender(ACCOUNT_SID, AUTH_TOKEN, from_number="+16125550100",
                              api_base_url=twilio.base_url, timeout=2)
        metrics.record_send(redis_client, sender.send("+15551230001", "Check-in: reply 1"))
        twilio.fail_to("+15551230002", code=21610, message="opted out")
        metrics.record_send(redis_client, sender.send("+15551230002", "Check-in: reply 1"))
        twilio.fail_next(status=503)
        metrics.record_send(redis_client, sender.send("+15551230003", "Check-in: reply 1"))
        sender.close()
    metrics.record_send(redis_client, "skipped")

    samples = scrape(client)

    assert value(samples, "helpline_redis_up") == 1
    assert value(samples, "helpline_queue_depth", queue="outbound") == 1
    assert value(samples, "helpline_queue_depth", queue="default") == 0
    assert ("helpline_queue_lag_seconds", (("queue", "outbound"),)) in samples
    assert value(samples, "helpline_rq_workers") == 0
    for result in ("sent", "failed", "retry", "skipped"):
        assert value(samples, "helpline_outbound_sends_total", result=result) == 1, result


def test_subscriber_gauge_comes_from_the_hook_the_checkins_module_registers(client, helpline):
    helpline.extras["subscriber_count"] = lambda: 42

    assert value(scrape(client), "helpline_checkin_subscribers") == 42


def test_metrics_without_redis_say_so_and_count_degraded_answers(down_app):
    client = down_app.test_client()
    before = scrape(client)
    Texter(client).send("overdose")
    after = scrape(client)

    assert value(after, "helpline_redis_up") == 0
    assert (value(after, "helpline_webhook_requests_total", endpoint="/sms", outcome="degraded")
            - value(before, "helpline_webhook_requests_total", endpoint="/sms",
                    outcome="degraded")) == 1


def test_metrics_token_is_required_when_set(redis_url, redis_client):
    app = create_app(make_settings(redis_url, METRICS_TOKEN="s3cret-metrics-token"))
    client = app.test_client()

    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": "Basic czNjcmV0LW1ldHJpY3MtdG9rZW4="},
                    {"Authorization": "Bearer s3cret-metrics-token-and-more"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert "helpline_" not in response.get_data(as_text=True)
    assert "helpline_redis_up" in str(scrape(client, Authorization="Bearer s3cret-metrics-token"))
