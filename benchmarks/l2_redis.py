"""The Redis tier: an L2 hit, 100 keys from L2, decoding, and a dead Redis (tier and fleet).

Uses the Redis at redis://localhost:6379 with a key prefix of its own, deleted afterwards.
Beside the backend, the same hits go through a tier that sends its commands with the redis-py
client's ``execute_command`` and pool (built from the same settings), so every run shows what
the backend's own connections (``polysource_redis.backend.Connections``) save.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from _harness import figure, measure
from cattrs import Converter
from redis.asyncio import Connection

import polysource_redis
from polysource import Orchestrator, load_config
from polysource.cache.tiers import BackendContext, decode_record, encode_record
from polysource.config import Secret
from polysource.datasets import QUOTE, Quote
from polysource.engine.tiers import shared_key
from polysource.hookspecs import hookimpl
from polysource.testing import FakeProvider
from polysource_redis.backend import standalone_client
from polysource_redis.settings import parse_url

PROVIDER_CALL_NS = 5_000_000
"""A provider call at 5 ms: what a saving on the Redis path is weighed against."""


class ClientPathBackend:
    """The Redis tier's reads through the redis-py client (``execute_command``, its pool)."""

    self_timed = True

    def __init__(self, url: str, context: BackendContext) -> None:
        settings = parse_url(url.replace("redis-client://", "redis://", 1), timeout=context.timeout)
        self.name = "redis-client"
        self._prefix = settings.prefix + ":"
        self._client = standalone_client(settings)

    async def get(self, key: str) -> bytes | None:
        found: bytes | None = await self._client.execute_command("GET", self._prefix + key)
        return found

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        found: list[bytes | None] = await self._client.mget([self._prefix + k for k in keys])
        return found

    async def set(self, key: str, record: bytes, ttl: float) -> None:
        await self._client.set(self._prefix + key, record, px=max(1, int(ttl * 1000)))

    async def delete(self, keys: list[str]) -> None:
        await self._client.unlink(*(self._prefix + k for k in keys))

    async def delete_pattern(self, pattern: str) -> int:
        return 0

    async def close(self) -> None:
        await self._client.aclose()


class ClientPathPlugin:
    @hookimpl
    def register_cache_backends(self, register: Any) -> None:
        register(("redis-client",), ClientPathBackend)


async def _orchestrator(
    tiers: list[str], fake: FakeProvider, fleet: str | None = None
) -> Orchestrator:
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": tiers, "tier_timeout": 0.25},
            "datasets": {"quote": {"ttl": 86400}},
            "fleet": {"url": fleet},
            "security": {"secret": Secret.of("benchmark-secret-0123456789abcdef")},
        },
    )
    plugins = [fake, polysource_redis, ClientPathPlugin()]
    orch = Orchestrator(config, plugins=plugins, entry_points=False, environ={})
    await orch.start()
    return orch


async def run(quick: bool) -> list[dict[str, Any]]:
    prefix = f"ps-bench-{uuid.uuid4().hex[:8]}"
    url = f"redis://localhost:6379/0?prefix={prefix}"
    client = aioredis.Redis.from_url("redis://localhost:6379/0")
    quote = Quote("AAPL", 190.5, "USD", previous_close=189.0, volume=1000)
    try:
        return await _run(quick, prefix, url, client, quote)
    finally:
        keys = [key async for key in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def _run(quick: bool, prefix: str, url: str, client: Any, quote: Quote) -> list[Any]:
    fake = FakeProvider("bench", max_batch_size=100)
    l2_only = await _orchestrator([url], fake)
    client_path = await _orchestrator([url.replace("redis://", "redis-client://", 1)], fake)
    record = encode_record(quote, "bench", time.time())  # fresh for the day-long TTL above
    keys = [f"K{i:03d}" for i in range(100)]
    for key in ["AAPL", *keys]:
        await client.set(f"{prefix}:{shared_key(QUOTE, key, 'global', None)}", record)
    bare_key = f"{prefix}:{shared_key(QUOTE, 'AAPL', 'global', None)}"
    full_keys = [f"{prefix}:{shared_key(QUOTE, k, 'global', None)}" for k in keys]
    default = Converter()
    connection = Connection(host="localhost", port=6379)

    async def bare_get() -> Any:
        return orjson.loads(await client.get(bare_key))

    async def connection_get() -> Any:  # the floor: one redis-py connection, no client
        await connection.send_packed_command(connection.pack_command("GET", bare_key), False)
        return orjson.loads(await connection.read_response())

    async def l2_hit() -> Any:
        return await l2_only.fetch(QUOTE, "AAPL")

    async def l2_hit_client_path() -> Any:
        return await client_path.fetch(QUOTE, "AAPL")

    async def bare_mget() -> Any:
        return [decode_record(raw, Quote) for raw in await client.mget(full_keys)]

    async def many() -> Any:
        return await l2_only.fetch_many(QUOTE, keys)

    async def many_client_path() -> Any:
        return await client_path.fetch_many(QUOTE, keys)

    assert (await l2_hit()).tier == "redis"
    assert (await l2_hit_client_path()).tier == "redis-client"
    assert (await many()).summary.cached == 100
    assert (await many_client_path()).summary.cached == 100
    rounds = 5 if quick else 15
    hits = await measure(
        {
            "bare": bare_get,
            "floor": connection_get,
            "polysource": l2_hit,
            "client_path": l2_hit_client_path,
        },
        repeats=3,
        rounds=rounds,
        ops=50,
        warmup=100,
    )
    await connection.disconnect()
    batches = await measure(
        {"bare": bare_mget, "polysource": many, "client_path": many_client_path},
        repeats=3,
        rounds=rounds,
        ops=10,
        warmup=20,
    )
    raw = orjson.loads(record)["d"]

    async def decode_ours() -> Any:
        return decode_record(record, Quote)

    async def decode_default() -> Any:
        return default.structure(orjson.loads(orjson.dumps(raw)), Quote)

    decoding = await measure(
        {"ours": decode_ours, "default": decode_default}, repeats=3, rounds=rounds, ops=200
    )
    await l2_only.close()
    await client_path.close()

    fast = FakeProvider("bench")
    no_redis = await _orchestrator(["memory://"], fast)
    gone = "redis://127.0.0.1:1/0?prefix=dead"
    dead = await _orchestrator(["memory://", gone], fast, fleet=gone)
    counter = iter(range(10**9))

    async def without() -> Any:
        return await no_redis.fetch(QUOTE, f"N{next(counter)}")

    async def with_dead() -> Any:
        return await dead.fetch(QUOTE, f"D{next(counter)}")

    deadness = await measure(
        {"without": without, "dead": with_dead}, repeats=3, rounds=rounds, ops=50, warmup=50
    )
    await no_redis.close()
    await dead.close()
    return [
        figure(
            "l2_hit_p50_vs_bare_get",
            hits["polysource"]["p50_ns"],
            hits["bare"]["p50_ns"],
            1.2,
            anchor_name="redis.asyncio GET + orjson.loads",
        ),
        figure(
            "l2_hit_p50_vs_connection_get",
            hits["polysource"]["p50_ns"],
            hits["floor"]["p50_ns"],
            None,
            anchor_name="GET + orjson.loads on one redis-py connection (no client)",
        ),
        figure(
            "l2_hit_client_path_p50_vs_bare_get",
            hits["client_path"]["p50_ns"],
            hits["bare"]["p50_ns"],
            None,
            anchor_name="redis.asyncio GET + orjson.loads",
        ),
        figure(
            "l2_hit_connections_saving_vs_5ms_provider_call",
            hits["client_path"]["p50_ns"] - hits["polysource"]["p50_ns"],
            PROVIDER_CALL_NS,
            None,
            anchor_name="a provider call at 5 ms",
        ),
        figure(
            "l2_fetch_many_100_vs_mget",
            batches["polysource"]["p50_ns"],
            batches["bare"]["p50_ns"],
            1.25,
            anchor_name="one MGET of 100 + decode",
        ),
        figure(
            "l2_fetch_many_100_client_path_vs_mget",
            batches["client_path"]["p50_ns"],
            batches["bare"]["p50_ns"],
            None,
            anchor_name="one MGET of 100 + decode",
        ),
        figure(
            "decode_vs_default_cattrs",
            decoding["ours"]["median_ns"],
            decoding["default"]["median_ns"],
            1.0,  # type-checked decode, no slower than cattrs' default that checks nothing
            anchor_name="orjson.loads + cattrs Converter().structure",
        ),
        figure(
            "dead_redis_provider_call_vs_no_redis",
            deadness["dead"]["median_ns"],
            deadness["without"]["median_ns"],
            1.2,
            anchor_name="same call, no Redis tier and no fleet",
        ),
    ]
