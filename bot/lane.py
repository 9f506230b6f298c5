"""A fast lane to Redis for the webhook's two script calls per text.

redis-py's client call takes a connection from the pool, checks it (a poll syscall), records
observability data and gives it back: about 60 us of CPU per call here, as much as the round trip
itself. A lane keeps connections of the same pool checked out between turns and talks to them
through redis-py's own Connection (its parser, timeouts, TLS, AUTH, Sentinel and retry policy),
so a script call costs one send and one read. Nothing here knows key names (bot/store.py does).
"""
from __future__ import annotations

import os

import hiredis
import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError


class Lane:
    """Script calls on held connections: one per thread in use at once, never shared mid-call."""

    def __init__(self, client: redis.Redis):
        self.pool = client.connection_pool
        self._idle: list = []  # list.append and list.pop are atomic: no lock on the hot path
        self._pid = os.getpid()

    def script(self, script: Script, keys: list, args: list):
        """EVALSHA with the connection's retry policy; a server that lost the script gets it again.

        A held connection the server has closed since its last use (a restart, a failover, an
        idle timeout) fails on first use: it is reopened and the call made once more, where the
        pool would have found it closed before handing it out. A timeout is not retried: Redis
        is slow or hung, and the caller answers without state rather than wait twice."""
        connection, reused = self._take()
        try:
            try:
                result = self._evalsha(connection, script, keys, args)
            except redis.ConnectionError:
                if not reused:
                    raise
                connection.disconnect()
                result = self._evalsha(connection, script, keys, args)
        except BaseException:
            self.pool.release(connection)  # the pool checks it before anyone uses it again
            raise
        self._idle.append(connection)
        return result

    def _take(self) -> tuple:
        """A held connection (reused: True) or a new one from the pool."""
        if os.getpid() != self._pid:  # forked: the parent's sockets are not ours to use
            self._idle, self._pid = [], os.getpid()
        try:
            return self._idle.pop(), True
        except IndexError:
            return self.pool.get_connection(), False

    def _evalsha(self, connection, script: Script, keys: list, args: list):
        try:
            return self._call(connection, ("EVALSHA", script.sha, len(keys), *keys, *args))
        except NoScriptError:  # a restarted server, a new master after a failover
            script.sha = self._call(connection, ("SCRIPT", "LOAD", script.script)).decode()
            return self._call(connection, ("EVALSHA", script.sha, len(keys), *keys, *args))

    @staticmethod
    def _call(connection, command: tuple):
        def once():
            # hiredis packs in C what redis-py's packer checks argument by argument first; a
            # commit carries some forty arguments, all str, bytes or int.
            connection.send_packed_command([hiredis.pack_command(command)])
            return connection.read_response()

        return connection.retry.call_with_retry(once, lambda error: connection.disconnect())
