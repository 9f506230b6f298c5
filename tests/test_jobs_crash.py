"""A worker SIGKILLed in the middle of a batch job, with a text in flight at Twilio, loses nothing
and doubles nothing: the next dispatcher run hands the dead job's unsettled check-ins to a new
job, which asks Twilio whether the one in flight went out before sending it again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from bot.checkins.jobs import DISPATCH_QUEUE, LEASE, SEND_QUEUE
from tests.conftest import ROOT, _BASE_ENV, run_worker
from tests.waiting import wait_until
from tests.test_jobs import Person, dispatch

PEOPLE = 6
RATE = "2"  # two send threads, texts starting half a second apart: the kill lands between two


def descendants(pid: int) -> list[int]:
    """Processes started under `pid` (RQ puts each job process in its own process group)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        under = todo.pop()
        children = [child for child, parent in parents.items() if parent == under]
        found += children
        todo += children
    return found


def kill_all(worker: subprocess.Popen) -> None:
    """SIGKILL, as when the machine dies: the worker, the job process it forked, its scheduler."""
    try:
        family = descendants(worker.pid)
    finally:
        worker.kill()
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        worker.wait(timeout=10)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds job processes in /proc")
def test_sigkill_mid_batch_delivers_every_due_check_in_exactly_once(
        checkin_app, worker_env, fake_twilio):
    people = [Person(checkin_app, f"+1612555030{n}") for n in range(PEOPLE)]
    at = max(p.due for p in people) + timedelta(minutes=1)
    assert f"enqueued {PEOPLE}" in dispatch(checkin_app, at)
    redis = people[0].helpline.redis
    [batch] = Queue(SEND_QUEUE, connection=redis).get_job_ids()  # one job for all six
    slots = {p.number: p.sub.inflight for p in people}
    fake_twilio.delay_next(2.0)  # the 1st text will still be at Twilio when the kill comes
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT,
                              env={**_BASE_ENV, **worker_env, "SEND_RATE_PER_SECOND": RATE},
                              start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subs = people[0].helpline.extras["checkins"].subs

    def one_marked_sent() -> bool:  # Twilio records a text before the worker reads the answer
        return any((subs.marker(p.subject, slots[p.number]) or "").startswith("sent:")
                   for p in people)

    try:
        wait_until(lambda: len(fake_twilio.messages) == 1 and fake_twilio.delays_left() == 0
                   and one_marked_sent(), "one text in flight and the next one sent")
    finally:
        kill_all(worker)
    assert Job.fetch(batch, connection=redis).get_status() == JobStatus.STARTED  # it died
    marks = {p.number: p.helpline.extras["checkins"].subs.marker(p.subject, slots[p.number])
             for p in people}
    sent = [n for n, m in marks.items() if m and m.startswith("sent:")]
    pending = [n for n, m in marks.items() if m and m.startswith("pending:")]
    assert sent and pending and len(sent) + len(pending) < PEOPLE  # mid-batch
    # and the worker had booked the dispatcher's next run
    assert any(j.startswith("checkins-tick-") for j in
               ScheduledJobRegistry(DISPATCH_QUEUE, connection=redis).get_job_ids())
    wait_until(lambda: len(fake_twilio.messages) == len(sent) + len(pending),
             "Twilio to accept the text in flight")

    later = at + LEASE + timedelta(minutes=1)
    assert f"recovered {PEOPLE - len(sent)}" in dispatch(checkin_app, later)  # lease ran out
    run_worker(worker_env)

    assert sorted(m.form["To"] for m in fake_twilio.messages) == sorted(p.number for p in people)
    assert any(r.method == "GET" for r in fake_twilio.requests), "Twilio was asked first"
    for person in people:
        assert person.sub.inflight == "" and person.sub.count == 1
    assert "nothing due" in dispatch(checkin_app, later + LEASE)
