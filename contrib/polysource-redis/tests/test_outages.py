"""A Redis that is down, frozen or restarted costs a bounded wait, and the backend recovers.

Each test runs a ``redis-server`` of its own. Durations are bounded loosely (2-4 timeouts)
because they only need to tell a bounded wait from redis-py's defaults, which wait seconds.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.exceptions

from polysource.cache.tiers import TierBusy

TIMEOUT = 0.25
OPERATIONS = ("get", "get_many", "set", "delete", "delete_pattern")


def _operation(backend, name: str):
    if name == "get":
        return backend.get("k")
    if name == "get_many":
        return backend.get_many(["k"])
    if name == "set":
        return backend.set("k", b"v", 60)
    if name == "delete":
        return backend.delete(["k"])
    return backend.delete_pattern("*")


async def _timed(awaitable) -> tuple[BaseException | None, float]:
    """The exception ``awaitable`` raised (or None) and the seconds it took."""
    started = time.perf_counter()
    try:
        await awaitable
    except Exception as exc:
        return exc, time.perf_counter() - started
    return None, time.perf_counter() - started


@pytest.mark.parametrize("name", OPERATIONS)
async def test_operations_on_a_stopped_server_fail_promptly(name, redis_servers, make_backend):
    """Once the server is gone, every operation raises a ConnectionError within 2x the timeout."""
    server = redis_servers()
    backend = make_backend(server.url, timeout=TIMEOUT)
    await backend.set("k", b"v", 60)  # the pool holds a live connection when the server goes
    server.stop()

    for _ in range(2):  # the pooled connection, then a fresh one
        error, seconds = await _timed(_operation(backend, name))
        assert isinstance(error, redis.exceptions.ConnectionError), error
        assert seconds < 2 * TIMEOUT


@pytest.mark.parametrize("name", OPERATIONS)
async def test_operations_on_a_frozen_server_time_out(name, redis_servers, make_backend):
    """A server frozen by SIGSTOP makes operations raise TimeoutError after the timeout."""
    server = redis_servers()
    backend = make_backend(server.url, timeout=TIMEOUT)
    await backend.set("k", b"v", 60)
    server.pause()

    error, seconds = await _timed(_operation(backend, name))

    assert isinstance(error, redis.exceptions.TimeoutError), error
    assert 0.8 * TIMEOUT <= seconds < 2 * TIMEOUT


async def test_concurrent_reads_on_a_frozen_server_all_time_out_together(
    redis_servers, make_backend
):
    """Twenty reads in flight each give up within about one timeout: those on a connection with
    a TimeoutError (which detaches the tier), those still waiting to open one with TierBusy."""
    server = redis_servers()
    backend = make_backend(server.url, timeout=TIMEOUT)
    await backend.set("k", b"v", 60)
    server.pause()

    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(backend.get_many(["k"]) for _ in range(20)), return_exceptions=True
    )

    elapsed = time.perf_counter() - started
    assert elapsed < 4 * TIMEOUT, elapsed  # a connect timeout, or a wait, then a read timeout
    timeouts = [o for o in outcomes if isinstance(o, redis.exceptions.TimeoutError)]
    assert timeouts, outcomes
    assert all(isinstance(o, redis.exceptions.TimeoutError | TierBusy) for o in outcomes), outcomes


async def test_same_backend_works_again_when_a_frozen_server_continues(redis_servers, make_backend):
    """After SIGCONT the backend that timed out answers again, with the data still there."""
    server = redis_servers()
    backend = make_backend(server.url, timeout=TIMEOUT)
    await backend.set("k", b"v", 60)
    server.pause()
    with pytest.raises(redis.exceptions.TimeoutError):
        await backend.get_many(["k"])

    server.resume()

    assert await backend.get_many(["k"]) == [b"v"]
    await backend.set("k2", b"v2", 60)
    assert await backend.get_many(["k", "k2"]) == [b"v", b"v2"]


async def test_same_backend_works_again_after_a_failed_call_and_a_restart(
    redis_servers, make_backend
):
    """Down (a call fails), then restarted on the same port: the same backend serves again."""
    server = redis_servers()
    backend = make_backend(server.url, timeout=TIMEOUT)
    await backend.set("k", b"v", 60)
    server.stop()
    with pytest.raises(redis.exceptions.ConnectionError):
        await backend.get_many(["k"])

    server.start()

    assert await backend.get_many(["k"]) == [None]  # a new server: no persistence
    await backend.set("k", b"again", 60)
    assert await backend.get_many(["k"]) == [b"again"]


async def test_first_call_after_a_restart_succeeds_on_the_stale_pooled_connection(
    redis_servers, make_backend
):
    """A pooled connection left dead by a restart is retried once at once: no call fails."""
    server = redis_servers()
    backend = make_backend(server.url, timeout=TIMEOUT)
    await backend.set("k", b"v", 60)

    server.restart()

    assert await backend.get_many(["k"]) == [None]


async def test_without_the_retry_a_restart_fails_the_first_call(redis_servers, make_backend):
    """With ``retries=0`` the first call after a restart fails on the dead pooled connection.

    This is why the default is one immediate retry on a broken connection.
    """
    server = redis_servers()
    backend = make_backend(f"{server.url}?retries=0", timeout=TIMEOUT)
    await backend.set("k", b"v", 60)

    server.restart()

    with pytest.raises(redis.exceptions.ConnectionError):
        await backend.get_many(["k"])
    assert await backend.get_many(["k"]) == [None]


async def test_engine_timeout_cancelling_a_call_leaves_no_stale_reply(redis_servers, make_backend):
    """A call cancelled mid-flight (as the engine's tier timeout does) cannot desync the pool.

    The reply of the cancelled ``MGET`` must never be read as the answer of the next command.
    """
    server = redis_servers()
    backend = make_backend(server.url, timeout=5.0)
    await backend.set("a", b"A", 60)
    await backend.set("b", b"B", 60)
    server.pause()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await backend.get_many(["a"])
    server.resume()

    assert await backend.get_many(["b"]) == [b"B"]
    assert await backend.get_many(["a", "b"]) == [b"A", b"B"]


async def test_server_side_command_count_of_a_100_key_lookup(redis_servers, make_backend):
    """Redis itself counts one MGET call for a 100-key lookup (INFO commandstats)."""
    server = redis_servers()
    backend = make_backend(server.url, timeout=TIMEOUT)
    keys = [f"{{quote:US}}:-:S{i}" for i in range(100)]
    for key in keys:
        await backend.set(key, b"r", 60)
    probe = redis.Redis(port=server.port, socket_timeout=2)
    try:
        probe.config_resetstat()
        found = await backend.get_many(keys)
        stats = probe.info("commandstats")
    finally:
        probe.close()

    assert found == [b"r"] * 100
    assert stats["cmdstat_mget"]["calls"] == 1
    assert "cmdstat_get" not in stats
