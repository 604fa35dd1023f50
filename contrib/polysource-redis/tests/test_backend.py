"""The backend against the shared Redis: commands, round trips, TTLs, deletes, records."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import orjson
import redis.asyncio

from polysource.cache.tiers import CacheBackend, Record, decode_record, encode_record
from polysource.datasets import Quote
from polysource_redis import RedisBackend
from polysource_redis.backend import HEALTH_CHECK_INTERVAL


def test_backend_satisfies_the_cache_backend_protocol(backend: RedisBackend) -> None:
    """The backend is a ``CacheBackend`` named ``redis``."""
    assert isinstance(backend, CacheBackend)
    assert backend.name == "redis"


async def test_get_many_of_100_keys_is_one_mget(backend: RedisBackend, prefix: str, wire) -> None:
    """100 keys (and 2 absent ones) are read with one MGET in one round trip, in order."""
    keys = [f"{{quote:US}}:-:SYM{i}" for i in range(100)]
    for i, key in enumerate(keys):
        await backend.set(key, f"record-{i}".encode(), 60)
    asked = [*keys[:50], "{quote:US}:-:ABSENT1", *keys[50:], "{quote:US}:-:ABSENT2"]
    wire.clear()

    found = await backend.get_many(asked)

    assert len(wire.writes) == 1
    assert wire.writes[0] == [[b"MGET", *(f"{prefix}:{key}".encode() for key in asked)]]
    expected = [f"record-{i}".encode() for i in range(100)]
    assert found == [*expected[:50], None, *expected[50:], None]


async def test_get_of_one_key_is_one_get(backend: RedisBackend, prefix: str, wire) -> None:
    """A single-key read is one GET of the prefixed key; an absent key reads as None."""
    await backend.set("{quote:US}:-:AAPL", b"record", 60)
    wire.clear()

    assert await backend.get("{quote:US}:-:AAPL") == b"record"
    assert await backend.get("{quote:US}:-:ABSENT") is None

    assert wire.writes == [
        [[b"GET", f"{prefix}:{{quote:US}}:-:AAPL".encode()]],
        [[b"GET", f"{prefix}:{{quote:US}}:-:ABSENT".encode()]],
    ]
    assert backend.self_timed is True


async def test_empty_requests_make_no_round_trip(backend: RedisBackend, wire) -> None:
    """Reading or deleting no keys answers at once, without a command."""
    assert await backend.get_many([]) == []
    await backend.delete([])
    assert wire.writes == []


async def test_set_writes_set_px_with_the_ttl(
    backend: RedisBackend, prefix: str, raw: redis.asyncio.Redis, wire
) -> None:
    """``set`` is one ``SET key record PX ms``, and Redis holds the key for that TTL."""
    await backend.get_many(["warm-up"])
    wire.clear()

    await backend.set("{quote:US}:-:AAPL", b"record", 90.0004)

    full_key = f"{prefix}:{{quote:US}}:-:AAPL".encode()
    assert wire.commands() == [[b"SET", full_key, b"record", b"PX", b"90001"]]
    ttl_ms = await raw.pttl(f"{prefix}:{{quote:US}}:-:AAPL")
    assert 85_000 < ttl_ms <= 90_001


async def test_a_short_ttl_is_rounded_up_and_a_spent_one_writes_nothing(
    backend: RedisBackend, prefix: str, raw: redis.asyncio.Redis, wire
) -> None:
    """A TTL under a millisecond still stores the key; a TTL of zero or less stores nothing."""
    await backend.set("tiny", b"x", 0.0001)
    assert wire.commands(b"SET")[0][-2:] == [b"PX", b"1"]
    wire.clear()
    await backend.set("spent", b"x", 0)
    await backend.set("negative", b"x", -5)
    assert wire.commands(b"SET") == []
    assert await raw.exists(f"{prefix}:spent", f"{prefix}:negative") == 0


async def test_set_overwrites_and_resets_the_ttl(
    backend: RedisBackend, prefix: str, raw: redis.asyncio.Redis
) -> None:
    """A second ``set`` replaces the record and its TTL."""
    await backend.set("k", b"old", 1000)
    await backend.set("k", b"new", 10)
    assert await backend.get_many(["k"]) == [b"new"]
    assert 0 < await raw.pttl(f"{prefix}:k") <= 10_000


async def test_delete_unlinks_the_keys_in_one_command(
    backend: RedisBackend, prefix: str, wire
) -> None:
    """``delete`` removes the named keys with one UNLINK and leaves the others."""
    for key in ("a", "b", "c"):
        await backend.set(key, key.encode(), 60)
    wire.clear()

    await backend.delete(["a", "c", "never-set"])

    assert wire.commands() == [
        [b"UNLINK", *(f"{prefix}:{k}".encode() for k in ("a", "c", "never-set"))]
    ]
    assert await backend.get_many(["a", "b", "c"]) == [None, b"b", None]


async def test_delete_pattern_removes_matching_keys_under_its_prefix_only(
    backend: RedisBackend, prefix: str, make_backend, shared_url: str, raw: redis.asyncio.Redis
) -> None:
    """``delete_pattern`` counts and removes its own matching keys, not another prefix's."""
    neighbour = make_backend(f"{shared_url}?prefix={prefix}-neighbour")
    for key in ("quote:AAPL", "quote:MSFT", "quote:GOOGL", "bars:AAPL"):
        await backend.set(key, b"r", 60)
    await neighbour.set("quote:AAPL", b"r", 60)

    assert await backend.delete_pattern("quote:*") == 3

    assert await backend.get_many(["quote:AAPL", "quote:MSFT", "bars:AAPL"]) == [None, None, b"r"]
    assert await neighbour.get_many(["quote:AAPL"]) == [b"r"]
    assert await backend.delete_pattern("quote:*") == 0


async def test_delete_pattern_escapes_glob_characters_of_the_prefix(
    prefix: str, make_backend, shared_url: str, raw: redis.asyncio.Redis
) -> None:
    """A prefix holding ``*``, ``?`` or ``[`` matches itself only, not other prefixes."""
    odd = make_backend(f"{shared_url}?prefix={prefix}-%5Bx%5D*%3F")
    lookalike = make_backend(f"{shared_url}?prefix={prefix}-x-and-more")
    await odd.set("k", b"1", 60)
    await lookalike.set("k", b"2", 60)

    assert await odd.delete_pattern("*") == 1

    assert await lookalike.get_many(["k"]) == [b"2"]
    assert await raw.exists(f"{prefix}-[x]*?:k") == 0


async def test_delete_pattern_stops_after_its_step_limit(
    prefix: str, make_backend, shared_url: str, wire, caplog
) -> None:
    """With ``max_scan_steps=2`` it sends two SCANs at most, logs a warning and returns."""
    bounded = make_backend(f"{shared_url}?prefix={prefix}&scan_count=1&max_scan_steps=2")
    for i in range(30):
        await bounded.set(f"k{i}", b"r", 60)
    wire.clear()

    with caplog.at_level(logging.WARNING, logger="polysource_redis"):
        removed = await bounded.delete_pattern("*")

    assert len(wire.commands(b"SCAN")) == 2
    assert removed < 30
    assert "stopped after 2 SCAN steps" in caplog.text
    unbounded = make_backend(f"{shared_url}?prefix={prefix}")
    assert await unbounded.delete_pattern("*") == 30 - removed


async def test_an_encoded_record_decodes_into_its_schema(backend: RedisBackend) -> None:
    """A ``Quote`` stored with ``encode_record`` comes back equal, with its provenance."""
    quote = Quote(
        symbol="AAPL",
        price=189.84,
        currency="USD",
        timestamp=dt.datetime(2026, 1, 2, 15, 30, tzinfo=dt.UTC),
        volume=51_000_000,
    )
    await backend.set("{quote:US}:-:AAPL", encode_record(quote, "tiingo", 1_767_367_800.5), 60)

    (data,) = await backend.get_many(["{quote:US}:-:AAPL"])

    assert data is not None
    assert decode_record(data, Quote) == Record(quote, "tiingo", 1_767_367_800.5, len(data))


async def test_undecodable_records_decode_to_none(backend: RedisBackend) -> None:
    """Garbage, another format version and a value of another shape all read as a miss."""
    other_version = orjson.dumps({"v": 999, "s": "tiingo", "t": 1.0, "d": {"symbol": "A"}})
    wrong_shape = encode_record({"not": "a quote"}, "tiingo", 1.0)
    await backend.set("garbage", b"\x00\xff not json", 60)
    await backend.set("other-version", other_version, 60)
    await backend.set("wrong-shape", wrong_shape, 60)

    found = await backend.get_many(["garbage", "other-version", "wrong-shape"])

    assert found == [b"\x00\xff not json", other_version, wrong_shape]
    assert [decode_record(data, Quote) for data in found if data is not None] == [None] * 3


async def test_capped_pool_serves_more_concurrent_requests_than_connections(
    prefix: str, make_backend, shared_url: str
) -> None:
    """With ``max_connections=2``, 20 concurrent reads wait their turn and all succeed."""
    capped = make_backend(f"{shared_url}?prefix={prefix}&max_connections=2")
    await capped.set("k", b"v", 60)

    answers = await asyncio.gather(*(capped.get_many(["k"]) for _ in range(20)))

    assert answers == [[b"v"]] * 20
    assert capped._connections.count == 2


async def test_an_idle_pooled_connection_is_pinged_before_its_next_command(
    backend: RedisBackend, prefix: str, wire
) -> None:
    """A command on a connection idle past ``HEALTH_CHECK_INTERVAL`` is preceded by a ``PING``."""
    await backend.set("k", b"v", 60)
    (idle,) = backend._connections._idle
    assert idle.health_check_interval == HEALTH_CHECK_INTERVAL
    wire.clear()
    assert await backend.get("k") == b"v"
    assert wire.commands() == [[b"GET", f"{prefix}:k".encode()]]  # used just now: no PING

    idle.next_health_check = -1.0  # as if idle for longer than the interval
    wire.clear()
    assert await backend.get("k") == b"v"
    # The recorder sees the GET's send first: the PING is sent from inside it, before the GET.
    assert sorted(command[0] for command in wire.commands()) == [b"GET", b"PING"]


async def test_a_new_connection_skips_the_maintenance_notifications_handshake(
    prefix: str, make_backend, shared_url: str, wire
) -> None:
    """Opening a connection sends no ``CLIENT MAINT_NOTIFICATIONS`` (one round trip saved)."""
    fresh = make_backend(f"{shared_url}?prefix={prefix}")
    await fresh.get_many(["k"])
    assert wire.commands(b"MGET")
    assert not [c for c in wire.commands(b"CLIENT") if c[1].upper() == b"MAINT_NOTIFICATIONS"]
