"""The Redis cache tier: one ``GET``/``MGET`` per lookup, ``SET ... PX`` per write, bounded waits.

[`RedisBackend`][polysource_redis.backend.RedisBackend] implements
`polysource.cache.tiers.CacheBackend` over
``redis.asyncio``, for one server (``redis://``, ``rediss://``) or a Redis Cluster
(``redis+cluster://``, ``rediss+cluster://``).

redis-py's defaults suit an application whose only store is Redis: a 5 s socket timeout and up
to 10 retries with backoff, so a hung server costs seconds. Here Redis is a cache in front of
providers that can answer anyway, so every wait is the tier timeout (0.25 s by default). On one
server a command is retried at most once, at once, and only when its connection broke (a pooled
connection left dead by a restart); a command that timed out is never retried. On a cluster,
where redis-py would retry timeouts too, commands are not retried by default.

On one server the backend sends its commands over redis-py connections of its own (see
[`Connections`][polysource_redis.backend.Connections]) rather than through the client's
``execute_command``, whose bookkeeping
and pool checkout cost a quarter to a third of a local ``GET`` here. On a cluster it uses
``RedisCluster`` as it is: keys of several hash slots are read with ``mget_nonatomic`` and
removed with its ``unlink`` (one command per slot, one write per node, the nodes in parallel).
Connections check their health with a ``PING`` after
[`HEALTH_CHECK_INTERVAL`][polysource_redis.backend.HEALTH_CHECK_INTERVAL] seconds
idle.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, final

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis, SSLConnection
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from polysource.cache.tiers import BackendContext, TierBusy
from polysource_redis.settings import RedisSettings, parse_url

__all__ = [
    "DEFAULT_TIER_CONNECTIONS",
    "HEALTH_CHECK_INTERVAL",
    "Connections",
    "RedisBackend",
    "cluster_client",
    "standalone_client",
]

logger: Final = logging.getLogger("polysource_redis")

_GLOB_SPECIAL: Final = re.compile(r"([*?\[\]\\])")

HEALTH_CHECK_INTERVAL: Final = 30.0
"""Seconds a pooled connection may sit idle before its next command is preceded by a ``PING``
(redis-py's ``health_check_interval``): a connection the server or a firewall dropped
meanwhile is found before a command is sent on it."""

_MAX_CONNECTING: Final = 4
"""Connections one server's backend opens at the same time at most (see
[`Connections._connect()`][polysource_redis.backend.Connections._connect])."""

DEFAULT_TIER_CONNECTIONS: Final = 64
"""Connections the tier opens to one server when ``max_connections`` is not given.

Without a cap, as many callers as are waiting would each open a connection at once (500
callers, 500 connection handshakes), and the handshakes, each bounded by the tier timeout on a
saturated event loop, would time out and detach a healthy server. With it, callers queue for a
connection, and a wait that runs out is a miss (`TierBusy`),
not a failure of the tier.
"""


@final
class RedisBackend:
    """A shared cache tier in Redis or a Redis Cluster.

    Every key is stored as ``{prefix}:{key}``. ``get`` is one ``GET``; ``get_many`` is one
    ``MGET`` (on a cluster, ``mget_nonatomic``: one per hash slot, all slots of a node in one
    round trip and the nodes in parallel); ``set`` is ``SET key record PX ttl_ms``, ``delete``
    is ``UNLINK`` and ``delete_pattern`` walks the keyspace with ``SCAN MATCH``, unlinking what
    it finds, for a bounded number of steps.

    Build it with `from_url()` (what the ``redis`` plugin registers) or from
    [`RedisSettings`][polysource_redis.settings.RedisSettings]. Connections open on first use.

    Args:
        settings: Where and how to reach Redis.
    """

    __slots__ = (
        "_client",
        "_cluster",
        "_command",
        "_connections",
        "_key_prefix",
        "_match_prefix",
        "_settings",
        "name",
    )

    name: str
    """The tier's name in events and stats (``redis`` unless the URL's ``name`` says)."""

    self_timed: Final = True
    """Every wait is bounded by the settings' timeouts (socket, connect, pool), which default
    to the tier timeout, and a timed-out command is not retried: the engine reads without a
    timeout of its own around this backend."""

    def __init__(self, settings: RedisSettings) -> None:
        self.name = settings.name
        self._settings = settings
        self._key_prefix = settings.prefix + ":"
        self._match_prefix = _GLOB_SPECIAL.sub(r"\\\1", settings.prefix) + ":"
        self._cluster: RedisCluster | None = None
        self._connections: Connections | None = None
        self._client: Redis | RedisCluster
        self._command: Callable[..., Awaitable[Any]]
        """Sends one command and reads its reply:
        [`Connections.command()`][polysource_redis.backend.Connections.command] on one server,
        the cluster client's ``execute_command`` on a cluster."""
        if settings.cluster:
            self._client = self._cluster = cluster_client(settings)
            self._command = self._cluster.execute_command
        else:
            self._client = standalone_client(settings)
            self._connections = Connections(
                self._client.connection_pool.make_connection,
                limit=settings.max_connections or DEFAULT_TIER_CONNECTIONS,
                wait=settings.socket_timeout,
                retries=settings.retries,
            )
            self._command = self._connections.command

    @classmethod
    def from_url(cls, url: str, context: BackendContext) -> RedisBackend:
        """Build a backend from a tier URL; socket timeouts default to ``context.timeout``.

        Raises:
            ConfigError: The URL is not valid (see
                [`parse_url()`][polysource_redis.settings.parse_url]).
        """
        return cls(parse_url(url, timeout=context.timeout))

    @property
    def settings(self) -> RedisSettings:
        """The settings the backend was built with (the password masked in their repr)."""
        return self._settings

    def __repr__(self) -> str:
        return f"RedisBackend({self._settings.url!r}, prefix={self._settings.prefix!r})"

    def get(self, key: str) -> Awaitable[bytes | None]:
        """The record for ``key`` (``None`` if absent), with one ``GET``.

        Not a coroutine of its own: it hands back the command's, one frame less on every L2 hit.
        """
        found: Awaitable[bytes | None] = self._command("GET", self._key_prefix + key)
        return found

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Records for ``keys`` (``None`` where absent), with one ``MGET`` (per hash slot on a
        cluster)."""
        if not keys:
            return []
        prefix = self._key_prefix
        full = [prefix + key for key in keys]
        found: list[bytes | None]
        if self._cluster is None:
            found = await self._command("MGET", *full)
        else:
            found = await self._cluster.mget_nonatomic(full)
        return found

    async def set(self, key: str, record: bytes, ttl: float) -> None:
        """Store ``record`` for ``ttl`` seconds, rounded up to a millisecond (``<= 0``: no-op)."""
        milliseconds = math.ceil(ttl * 1000)
        if milliseconds <= 0:
            return
        await self._command("SET", self._key_prefix + key, record, "PX", milliseconds)

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove ``keys`` with ``UNLINK`` (memory is reclaimed off Redis's main thread)."""
        if not keys:
            return
        await self._unlink([self._key_prefix + key for key in keys])

    async def delete_pattern(self, pattern: str) -> int:
        """Remove the keys matching the glob ``pattern`` (under the prefix); returns how many.

        Walks the keyspace with ``SCAN MATCH {prefix}:{pattern}`` (on every primary of a
        cluster) and unlinks each step's keys. It stops after ``max_scan_steps`` steps per
        server, logging a warning, so a huge keyspace costs a bounded time; call it again to
        go on.
        """
        match = self._match_prefix + pattern
        if self._cluster is None:
            return await self._scan_unlink(self._command, match)
        nodes = self._cluster.get_primaries()
        if not nodes:  # not connected yet: the first command reads the cluster's layout
            await self._cluster.initialize()
            nodes = self._cluster.get_primaries()
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._scan_unlink(node.execute_command, match))
                    for node in nodes
                ]
        except ExceptionGroup as failures:  # the engine reports the error's type: keep it
            raise failures.exceptions[0] from failures
        return sum(task.result() for task in tasks)

    async def close(self) -> None:
        """Close every connection."""
        if self._connections is not None:
            await self._connections.close()
        await self._client.aclose()

    async def _scan_unlink(self, command: Callable[..., Awaitable[Any]], match: str) -> int:
        """``SCAN`` one server (``command`` runs a command on it) for ``match`` and unlink what
        it finds; returns how many."""
        settings = self._settings
        removed = 0
        cursor = 0
        for _ in range(settings.max_scan_steps):
            cursor, found = await command(
                "SCAN", cursor, "MATCH", match, "COUNT", settings.scan_count
            )
            cursor = int(cursor)
            if found:
                removed += await self._unlink(found)
            if cursor == 0:
                return removed
        logger.warning(
            "delete_pattern stopped after %d SCAN steps on tier %s; %d keys removed so far",
            settings.max_scan_steps,
            self.name,
            removed,
        )
        return removed

    async def _unlink(self, keys: Sequence[str | bytes]) -> int:
        """``UNLINK`` full keys (one command per hash slot on a cluster); returns how many."""
        count: int = await (
            self._command("UNLINK", *keys) if self._cluster is None else self._cluster.unlink(*keys)
        )
        return count


@final
class Connections:
    """The connections one server's backend sends its commands over, reused last in, first out.

    redis-py's ``Redis.execute_command`` takes a connection from the pool under a lock, checks
    it for unread data, wraps the command in its retry helper and records observability
    counters around it: measured here, a quarter to a third of a local ``GET``, which an L2 hit
    cannot absorb within its budget (see ``benchmarks/README.md``). Here each command is sent
    and read by a redis-py connection (its protocol, parser, TLS, authentication, socket
    timeouts and health check) made by the client's own pool, so settings apply the same way;
    only the reuse is this class's.

    A connection always comes back in a clean state: a command either reads its whole reply,
    or redis-py disconnects the connection (an error, a timeout or a cancellation mid-reply),
    and the next command reconnects it. A reply is never read as another command's.

    Args:
        factory: Makes a new (unconnected) connection.
        limit: Connections at most (``None``: no limit); beyond it a command waits, up to
            ``wait`` seconds, for one to come back, then raises
            `TierBusy` (this process is busy, the server is not
            failing: the engine takes it as a miss and keeps the tier attached).
        wait: Seconds a command may wait for a connection (``None``: no bound).
        retries: 0 or 1: whether a command that found its connection broken (a server
            restart leaves pooled connections dead) is sent once more at once, on a new one.
            A timed-out command is never sent again.
    """

    __slots__ = (
        "_all",
        "_connect_slots",
        "_factory",
        "_idle",
        "_limit",
        "_retries",
        "_wait",
        "_waiters",
    )

    def __init__(
        self,
        factory: Callable[[], AbstractConnection],
        *,
        limit: int | None,
        wait: float | None,
        retries: int,
    ) -> None:
        self._factory = factory
        self._limit = limit
        self._wait = wait
        self._retries = retries
        self._idle: list[AbstractConnection] = []
        self._all: list[AbstractConnection] = []
        self._waiters: collections.deque[asyncio.Future[AbstractConnection]] = collections.deque()
        self._connect_slots = asyncio.Semaphore(_MAX_CONNECTING)

    @property
    def count(self) -> int:
        """Connections made so far (idle or in use)."""
        return len(self._all)

    async def command(self, *args: Any) -> Any:
        """Send one command and return its reply (redis-py's ``ResponseError`` raises)."""
        connection = self._idle.pop() if self._idle else await self._acquire()
        try:
            if not connection.is_connected:
                await self._connect(connection)
            try:
                await connection.send_packed_command(connection.pack_command(*args))
                return await connection.read_response()
            except RedisConnectionError:
                if not self._retries:
                    raise
            await connection.disconnect()
            await connection.send_packed_command(connection.pack_command(*args))
            return await connection.read_response()
        finally:
            self._release(connection)

    async def _acquire(self) -> AbstractConnection:
        if self._limit is None or len(self._all) < self._limit:
            connection = self._factory()
            self._all.append(connection)
            return connection
        waiter: asyncio.Future[AbstractConnection] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._wait):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():  # handed one as the wait ended
                self._release(waiter.result())
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise TierBusy(
                    f"no connection came free within {self._wait} s ({self._limit} in use)"
                ) from None
            raise

    async def _connect(self, connection: AbstractConnection) -> None:
        """Open ``connection``, once one of the few connect slots is free.

        Opening a connection costs far more of this process than a command (a host name
        lookup in a thread, the socket, the handshake's round trip), all bounded by the connect
        timeout on the event loop's clock. Hundreds opened at once (a burst of callers on an
        empty pool, or after timeouts left connections closed) would each see the others'
        work as their own delay, time out and detach a healthy server. A wait for a slot that
        runs out is `TierBusy`, like a wait for a connection.
        """
        slots = self._connect_slots
        try:
            async with asyncio.timeout(self._wait):
                await slots.acquire()
        except TimeoutError:
            raise TierBusy(
                f"no connection could be opened within {self._wait} s "
                f"({_MAX_CONNECTING} being opened)"
            ) from None
        try:
            await connection.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        finally:
            slots.release()

    def _release(self, connection: AbstractConnection) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    async def close(self) -> None:
        """Disconnect every connection (a later command reconnects)."""
        for connection in self._all:
            await connection.disconnect()


def _retry(settings: RedisSettings) -> Retry:
    """At most ``settings.retries`` immediate retries, on a broken connection only.

    A cluster client reads only the count (it retries the errors it chooses, timeouts
    included); its node connections never retry.
    """
    return Retry(NoBackoff(), settings.retries, supported_errors=(RedisConnectionError,))


def _without_maintenance_notifications(target: Callable[..., object]) -> dict[str, Any]:
    """Options turning redis-py's maintenance notifications off, where it has them (7+).

    Left on ("auto"), each new connection costs one more round trip to ask for them, and
    during a managed server's maintenance redis-py would stretch socket timeouts to 10 s.
    """
    if "maint_notifications_config" not in inspect.signature(target).parameters:
        return {}
    from redis.maint_notifications import MaintNotificationsConfig

    return {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}


def _tls_options(settings: RedisSettings) -> dict[str, Any]:
    return {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_ca_certs": settings.ssl_ca_certs,
    }


def standalone_client(settings: RedisSettings) -> Redis:
    """A client over its own pool: blocking (bounded by the socket timeout) if capped."""
    ((host, port),) = settings.nodes
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "db": settings.db,
        "username": settings.username,
        "password": settings.password.reveal() if settings.password else None,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "retry": _retry(settings),
        "health_check_interval": HEALTH_CHECK_INTERVAL,
    }
    if settings.tls:
        options.update(_tls_options(settings), connection_class=SSLConnection)
    options.update(_without_maintenance_notifications(ConnectionPool))
    pool: ConnectionPool
    if settings.max_connections is None:
        pool = ConnectionPool(**options)
    else:
        pool = BlockingConnectionPool(
            max_connections=settings.max_connections, timeout=settings.socket_timeout, **options
        )
    return Redis.from_pool(pool)


def cluster_client(settings: RedisSettings) -> RedisCluster:
    """A cluster client: retries re-read the layout first (a moved or restarted node)."""
    options: dict[str, Any] = {
        "startup_nodes": [ClusterNode(host, port) for host, port in settings.nodes],
        "username": settings.username,
        "password": settings.password.reveal() if settings.password else None,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "retry": _retry(settings),
        "health_check_interval": HEALTH_CHECK_INTERVAL,
    }
    if settings.max_connections is not None:
        options["max_connections"] = settings.max_connections
    if settings.tls:
        options.update(_tls_options(settings), ssl=True)
    options.update(_without_maintenance_notifications(RedisCluster))
    return RedisCluster(**options)
