"""The fleet backend on Redis: one channel, counters and leases for every process.

[`RedisFleet`][polysource_redis.fleet.RedisFleet] implements
[`polysource.engine.fleet.FleetBackend`][polysource.engine.fleet.FleetBackend] for one server or
a Redis Cluster, from the same URLs as the cache tier (``redis://``, ``rediss://``,
``redis+cluster://``, ``rediss+cluster://``, same options), with ``[fleet] url``:

- messages go through one channel, ``{prefix}:fleet`` (``PUBLISH``; on a cluster a message
  reaches every node's subscribers);
- a counter is one script (``INCR`` then ``PEXPIRE``), a lease one script (``SET NX PX``; held
  already by the same token, it is granted again; else the holder's ``PTTL``), a release one
  script (delete if still held, then ``PUBLISH``): one round trip each, and one for the
  leases of a whole ``fetch_many`` batch;
- keys are ``{prefix}:fleet:{name}``.

The listener holds its own connection. It reads with a short timeout and pings the server when
the channel is quiet, so a dead or paused server is noticed within ``3 x heartbeat`` seconds
and the engine reconnects; commands use the tier's short socket timeouts and retry policy
([`polysource_redis.backend`][polysource_redis.backend]).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Final, final
from urllib.parse import quote

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from polysource.engine.fleet import FleetContext
from polysource_redis.backend import cluster_client, standalone_client
from polysource_redis.settings import RedisSettings, parse_url

__all__ = ["RedisFleet"]

_CLAIM: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return 0
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return 0
end
local left = redis.call('PTTL', KEYS[1])
if left < 1 then
    return tonumber(ARGV[2])
end
return left
"""

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
end
if ARGV[2] ~= '' then
    redis.call('PUBLISH', ARGV[3], ARGV[2])
end
return 0
"""

_CLAIM_MANY: Final = """
local out = {}
for i, key in ipairs(KEYS) do
    if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
        out[i] = 0
    else
        local left = redis.call('PTTL', key)
        if left < 1 then left = tonumber(ARGV[2]) end
        out[i] = left
    end
end
return out
"""

_RENEW_MANY: Final = """
local out = {}
for i, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[1] then
        redis.call('PEXPIRE', key, ARGV[2])
        out[i] = 1
    else
        out[i] = 0
    end
end
return out
"""

_RELEASE_MANY: Final = """
for i, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[1] then
        redis.call('DEL', key)
    end
    redis.call('PUBLISH', ARGV[2], ARGV[i + 2])
end
return 0
"""

_INCR: Final = """
local count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return count
"""

HEARTBEAT: Final = 1.0
"""Seconds of silence on the channel before the listener pings the server."""


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@final
class RedisFleet:
    """Fleet coordination state in Redis or a Redis Cluster.

    Args:
        settings: Where and how to reach Redis (as for the cache tier).
        heartbeat: Seconds of silence before the listener pings; three times as long without
            any answer and it gives up the connection.
    """

    __slots__ = (
        "_channel",
        "_claim",
        "_claim_many",
        "_client",
        "_incr",
        "_key_prefix",
        "_release",
        "_release_many",
        "_renew_many",
        "_settings",
        "heartbeat",
        "name",
    )

    name: str
    """The fleet's name in events (``redis`` unless the URL's ``name`` says)."""

    def __init__(self, settings: RedisSettings, *, heartbeat: float = HEARTBEAT) -> None:
        self.name = settings.name
        self.heartbeat = heartbeat
        self._settings = settings
        self._channel = f"{settings.prefix}:fleet"
        self._key_prefix = f"{settings.prefix}:fleet:"
        self._client: Redis | RedisCluster = (
            cluster_client(settings) if settings.cluster else standalone_client(settings)
        )
        self._claim = self._client.register_script(_CLAIM)
        self._release = self._client.register_script(_RELEASE)
        self._claim_many = self._client.register_script(_CLAIM_MANY)
        self._release_many = self._client.register_script(_RELEASE_MANY)
        self._renew_many = self._client.register_script(_RENEW_MANY)
        self._incr = self._client.register_script(_INCR)

    @classmethod
    def from_url(cls, url: str, context: FleetContext) -> RedisFleet:
        """Build the backend from ``[fleet] url``; socket timeouts default to the fleet timeout.

        Raises:
            ConfigError: The URL is not valid (see
                [`parse_url()`][polysource_redis.settings.parse_url]).
        """
        return cls(parse_url(url, timeout=context.timeout))

    def __repr__(self) -> str:
        return f"RedisFleet({self._settings.url!r}, prefix={self._settings.prefix!r})"

    async def listen(self, deliver: Callable[[bytes], None], ready: Callable[[], None]) -> None:
        """Subscribe to the fleet's channel and hand each message to ``deliver``."""
        if isinstance(self._client, RedisCluster):
            await self._client.initialize()  # a cluster's pub/sub needs its layout first
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            # SUBSCRIBE is only sent: messages published before the server has read it would
            # be missed, so the listener is ready when the server confirms it.
            confirmed = time.monotonic() + 3 * self.heartbeat
            while True:
                message = await pubsub.get_message(timeout=self.heartbeat)
                if message is not None and message.get("type") == "subscribe":
                    break
                if time.monotonic() > confirmed:
                    raise ConnectionError(f"no confirmation of SUBSCRIBE {self._channel}")
            await self._load_scripts()
            ready()
            heard = time.monotonic()
            pinged = False
            while True:
                message = await pubsub.get_message(timeout=self.heartbeat)
                now = time.monotonic()
                if message is not None:
                    heard = now
                    pinged = False
                    kind = message.get("type")
                    if kind == "message":
                        deliver(message["data"])
                    elif kind == "subscribe":
                        # redis-py reconnected and subscribed again by itself (a restart):
                        # what was published meanwhile is lost, as after a failure.
                        await self._load_scripts()
                        ready()
                    continue
                if now - heard > 3 * self.heartbeat:
                    raise ConnectionError(f"no answer on {self._channel} for {now - heard:.1f}s")
                if not pinged or now - heard > 2 * self.heartbeat:
                    await pubsub.ping()
                    pinged = True
        finally:
            await asyncio.shield(_close_pubsub(pubsub))

    async def publish(self, message: bytes) -> None:
        """``PUBLISH`` to the fleet's channel."""
        await self._client.execute_command("PUBLISH", self._channel, message)

    async def _load_scripts(self) -> None:
        """Load the scripts into the server's cache (each time the listener subscribes: a
        restarted server has forgotten them), so no lease or count pays a ``NOSCRIPT`` answer
        and a second round trip. A server that refuses ``SCRIPT LOAD`` still gets each script
        on its first use."""
        for script in (
            self._claim,
            self._release,
            self._claim_many,
            self._release_many,
            self._renew_many,
            self._incr,
        ):
            with contextlib.suppress(ResponseError):
                await self._client.script_load(script.script)

    async def incr(self, name: str, ttl: float) -> int:
        """Count one more on ``name`` (expiring ``ttl`` seconds from now); the new count."""
        count = await self._incr(keys=[self._key_prefix + name], args=[_ms(ttl)])
        return int(count)

    async def delete(self, names: Iterable[str]) -> None:
        """``UNLINK`` counters or leases (on a cluster, redis-py's ``unlink``: one command per
        hash slot, a node's in one write)."""
        keys = [self._key_prefix + name for name in names]
        if keys:
            await self._client.unlink(*keys)

    async def ttl(self, name: str) -> float:
        """Seconds ``name`` has left (``PTTL``; 0 when it does not exist)."""
        left = await self._client.execute_command("PTTL", self._key_prefix + name)
        return max(0, int(left)) / 1000

    async def claim(self, name: str, token: str, ttl: float) -> float:
        """Take the lease ``name`` for ``ttl`` seconds: 0 (taken, or held by ``token``
        already), or the seconds its holder has left."""
        left = await self._claim(keys=[self._key_prefix + name], args=[token, _ms(ttl)])
        return int(left) / 1000

    async def release(self, name: str, token: str, message: bytes | None) -> None:
        """Drop the lease if ``token`` holds it and publish ``message``, in one script."""
        await self._release(
            keys=[self._key_prefix + name], args=[token, message or b"", self._channel]
        )

    async def claim_many(self, names: list[str], token: str, ttl: float) -> list[float]:
        """Take the leases ``names`` for ``ttl`` seconds where free, in one script: for each,
        0 (taken) or the seconds its holder has left. The names of one batch share a hash
        tag (their shared keys'), so on a cluster they live on one node."""
        left = await self._claim_many(
            keys=[self._key_prefix + name for name in names], args=[token, _ms(ttl)]
        )
        return [int(value) / 1000 for value in left]

    async def renew_many(self, names: list[str], token: str, ttl: float) -> list[bool]:
        """Extend to ``ttl`` seconds the leases ``names`` that ``token`` still holds, in one
        script; for each, whether it did (an expired or lost lease is not taken again)."""
        renewed = await self._renew_many(
            keys=[self._key_prefix + name for name in names], args=[token, _ms(ttl)]
        )
        return [bool(int(value)) for value in renewed]

    async def release_many(self, names: list[str], token: str, messages: list[bytes]) -> None:
        """Drop the leases ``names`` that ``token`` holds and publish one message for each,
        in one script."""
        await self._release_many(
            keys=[self._key_prefix + name for name in names],
            args=[token, self._channel, *messages],
        )

    def rate_limit_storage(self) -> tuple[str, str] | None:
        """A ``limits`` URI for the same servers (the same CA file over TLS) and the key
        prefix ``{prefix}:limits`` (``None`` for a cluster over TLS, which ``limits`` does not
        name; set ``rate_limit_storage`` for it)."""
        settings = self._settings
        if settings.cluster and settings.tls:
            return None
        credentials = ""
        if settings.username or settings.password:
            user = quote(settings.username or "", safe="")
            secret = quote(settings.password.reveal(), safe="") if settings.password else ""
            credentials = f"{user}:{secret}@" if secret else f"{user}@"
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in settings.nodes)
        prefix = f"{settings.prefix}:limits"
        if settings.cluster:
            return f"async+redis+cluster://{credentials}{hosts}", prefix
        scheme = "async+rediss" if settings.tls else "async+redis"
        query = (
            f"?ssl_ca_certs={quote(settings.ssl_ca_certs, safe='/')}"
            if settings.tls and settings.ssl_ca_certs
            else ""
        )
        return f"{scheme}://{credentials}{hosts}/{settings.db}{query}", prefix

    async def close(self) -> None:
        """Close every connection."""
        await self._client.aclose()


async def _close_pubsub(pubsub: object) -> None:
    close = getattr(pubsub, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):  # a dead connection cannot be closed cleanly
            await close()
