"""A fast lane to Redis for the webhook's two script calls per text.

redis-py's client call takes a connection from the pool, checks it (a poll syscall), records
observability data and gives it back: about 60 us of CPU per call here, as much as the round trip
itself. A lane keeps connections of the same pool checked out between turns and talks to them
through redis-py's own Connection (its parser, timeouts, TLS, AUTH, Sentinel and retry policy),
so a script call costs one send and one read. Nothing here knows key names (bot/storage/store.py does).

Under gevent workers (the default) the lane goes further: every greenlet of the process shares
one connection, and the calls made while the worker was busy go out in one write, their replies
coming back in one read (auto-pipelining, as ioredis and Lettuce do). Under load a text then costs
the worker and Redis a fraction of a round trip's system calls instead of two whole ones.
"""
from __future__ import annotations

import functools
import os
from collections import deque

import gevent
import hiredis
import redis
from gevent import monkey
from gevent.event import AsyncResult
from redis.commands.core import Script
from redis.exceptions import NoScriptError


# Bumped in every forked child: a lane made before the fork must not use the parent's sockets.
# (A number compared per call, where os.getpid() would be a system call each time.)
_forks = [0]
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


def lane_for(client: redis.Redis):
    """A SharedLane in a gevent-patched process (a gevent worker), else a Lane."""
    return SharedLane(client) if monkey.is_module_patched("socket") else Lane(client)


def _evalsha(call, script: Script, keys: list, args: list):
    """EVALSHA through `call(command)`; a server that lost the script (a restart, a new master
    after a failover) gets it again, then the call is made once more."""
    try:
        return call(("EVALSHA", script.sha, len(keys), *keys, *args))
    except NoScriptError:
        script.sha = call(("SCRIPT", "LOAD", script.script)).decode()
        return call(("EVALSHA", script.sha, len(keys), *keys, *args))


class Lane:
    """Script calls on held connections: one per thread in use at once, never shared mid-call."""

    def __init__(self, client: redis.Redis):
        self.pool = client.connection_pool
        self._idle: list = []  # list.append and list.pop are atomic: no lock on the hot path
        self._fork = _forks[0]

    def script(self, script: Script, keys: list, args: list):
        """EVALSHA with the connection's retry policy; a server that lost the script gets it again.

        A held connection the server has closed since its last use (a restart, a failover, an
        idle timeout) fails on first use: it is reopened and the call made once more, where the
        pool would have found it closed before handing it out. A timeout is not retried: Redis
        is slow or hung, and the caller answers without state rather than wait twice."""
        connection, reused = self._take()
        call = functools.partial(self._call, connection)
        try:
            try:
                result = _evalsha(call, script, keys, args)
            except redis.ConnectionError:
                if not reused:
                    raise
                connection.disconnect()
                result = _evalsha(call, script, keys, args)
        except BaseException:
            self.pool.release(connection)  # the pool checks it before anyone uses it again
            raise
        self._idle.append(connection)
        return result

    def _take(self) -> tuple:
        """A held connection (reused: True) or a new one from the pool."""
        if self._fork != _forks[0]:  # forked: the parent's sockets are not ours to use
            self._idle, self._fork = [], _forks[0]
        try:
            return self._idle.pop(), True
        except IndexError:
            return self.pool.get_connection(), False

    @staticmethod
    def _call(connection, command: tuple):
        def once():
            # hiredis packs in C what redis-py's packer checks argument by argument first; a
            # commit carries some forty arguments, all str, bytes or int.
            connection.send_packed_command([hiredis.pack_command(command)])
            return connection.read_response()

        return connection.retry.call_with_retry(once, lambda error: connection.disconnect())


class SharedLane:
    """Script calls from every greenlet of a gevent process, pipelined on one shared connection."""

    def __init__(self, client: redis.Redis):
        self.pool = client.connection_pool
        self._link: _Link | None = None
        self._fork = _forks[0]

    def script(self, script: Script, keys: list, args: list):
        """EVALSHA; a server that lost the script gets it again. As with Lane, a call on a link
        the server has closed since its last use is made once more on a new one; a timeout is not
        retried."""
        link, reused = self._current()
        try:
            return _evalsha(link.call, script, keys, args)
        except redis.ConnectionError:
            if not reused:
                raise
            link, _ = self._current()
            return _evalsha(link.call, script, keys, args)

    def _current(self) -> tuple:
        if self._fork != _forks[0]:  # forked: the parent's socket is not ours to use
            self._link, self._fork = None, _forks[0]
        link = self._link
        if link is None or link.failed:
            self._link = link = _Link(self.pool)
            return link, False
        return link, link.used


class _Link:
    """One connection's life in a SharedLane: commands queue until the event loop comes round,
    go out in one write, and one reader greenlet hands each reply to its caller in order. When
    the connection fails every caller waiting on it gets the error, and the lane starts a new link.
    """

    def __init__(self, pool):
        self.pool = pool
        self.connection = None
        self.queued: list = []  # (packed command, waiter): not sent yet
        self.waiting: deque = deque()  # sent, in order; their replies come back in that order
        self.failed: BaseException | None = None
        self.used = False  # a reply came back: the server once answered on this connection
        self._flushing = False
        self._reading = False

    def call(self, command: tuple):
        if self.failed is not None:
            raise self.failed
        waiter = AsyncResult()
        self.queued.append((hiredis.pack_command(command), waiter))
        if not self._flushing:
            self._flushing = True
            gevent.spawn(self._flush)  # runs once the greenlets ready to run now have queued theirs
        return waiter.get()  # ended by the reply, or the socket's timeouts failing the link

    def _flush(self) -> None:
        """Send what is queued, in one write per turn of the loop, until nothing is left."""
        try:
            while self.queued and self.failed is None:
                batch, self.queued = self.queued, []
                self.waiting.extend(waiter for _, waiter in batch)  # from here, _fail reaches them
                if self.connection is None:
                    self.connection = self.pool.get_connection()
                self.connection.send_packed_command([b"".join(p for p, _ in batch)],
                                                    check_health=False)
                if not self._reading:
                    self._reading = True
                    gevent.spawn(self._read)
        except BaseException as error:  # connect or send failed: nobody queued here will hear
            self._fail(error if isinstance(error, redis.RedisError)
                       else redis.ConnectionError(f"Redis write failed: {error!r}"))
        finally:
            self._flushing = False

    def _read(self) -> None:
        """Hand each reply to the caller whose command it answers, while any wait."""
        try:
            while self.waiting and self.failed is None:
                try:
                    reply = self.connection.read_response(disable_decoding=True)
                except redis.ResponseError as error:  # an error reply: the stream is still in step
                    self.used = True
                    self.waiting.popleft().set_exception(error)
                    continue
                self.used = True
                self.waiting.popleft().set(reply)
        except BaseException as error:  # timeout, closed, reset: every waiting caller fails
            self._fail(error if isinstance(error, redis.RedisError)
                       else redis.ConnectionError(f"Redis read failed: {error!r}"))
        finally:
            self._reading = False

    def _fail(self, error: BaseException) -> None:
        if self.failed is None:
            self.failed = error
        stranded = [w for _, w in self.queued] + list(self.waiting)
        self.queued, self.waiting = [], deque()
        for waiter in stranded:
            waiter.set_exception(error)
        if self.connection is not None:
            self.connection.disconnect()
            self.pool.release(self.connection)
            self.connection = None
