"""The backend's own connection reuse: waiting at the limit, hand-over, cancellation, retry.

A stand-in connection answers each command with its own name, or blocks on an event, so the
order of hand-overs is under the test's control; the real protocol is covered by the tests
against Redis (``test_backend``, ``test_outages``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from polysource.cache.tiers import TierBusy
from polysource_redis.backend import Connections


class StandIn:
    """Answers ``("ECHO", x)`` with ``x``; ``("BLOCK", event)`` waits for the event first."""

    made = 0
    is_connected = True

    def __init__(self, broken_sends: int = 0) -> None:
        StandIn.made += 1
        self.number = StandIn.made
        self.broken_sends = broken_sends
        self.sent: list[tuple[Any, ...]] = []
        self.disconnects = 0
        self._pending: tuple[Any, ...] | None = None

    def pack_command(self, *args: Any) -> tuple[Any, ...]:
        return args

    async def send_packed_command(
        self, command: tuple[Any, ...], check_health: bool = True
    ) -> None:
        assert check_health is True  # redis-py pings a connection idle past its interval
        if self.broken_sends:
            self.broken_sends -= 1
            raise RedisConnectionError("Connection closed by server.")
        self.sent.append(command)
        self._pending = command

    async def read_response(self) -> Any:
        assert self._pending is not None, "a reply read without a command"
        command, self._pending = self._pending, None
        if command[0] == "BLOCK":
            await command[1].wait()
            return "unblocked"
        return command[1]

    async def disconnect(self) -> None:
        self.disconnects += 1


def connections(limit: int | None, *, wait: float | None = 5.0, retries: int = 1, **kw: Any):
    made: list[StandIn] = []

    def factory() -> StandIn:
        made.append(StandIn(**kw))
        return made[-1]

    return Connections(factory, limit=limit, wait=wait, retries=retries), made  # type: ignore[arg-type]


async def hold(pool: Connections) -> tuple[asyncio.Event, asyncio.Task[Any]]:
    """A command holding a connection until the returned event is set."""
    gate = asyncio.Event()
    holder = asyncio.create_task(pool.command("BLOCK", gate))
    await asyncio.sleep(0)
    return gate, holder


async def test_sequential_commands_reuse_one_connection() -> None:
    pool, made = connections(None)
    assert [await pool.command("ECHO", n) for n in range(5)] == [0, 1, 2, 3, 4]
    assert pool.count == 1
    assert len(made[0].sent) == 5


async def test_without_a_limit_concurrent_commands_open_connections_as_needed() -> None:
    pool, made = connections(None)
    gate = asyncio.Event()
    blocked = [asyncio.create_task(pool.command("BLOCK", gate)) for _ in range(3)]
    await asyncio.sleep(0)
    assert pool.count == 3
    gate.set()
    assert await asyncio.gather(*blocked) == ["unblocked"] * 3


async def test_at_the_limit_a_command_waits_for_a_connection_to_come_back() -> None:
    pool, made = connections(1)
    gate, holder = await hold(pool)
    waiter = asyncio.create_task(pool.command("ECHO", "after"))
    await asyncio.sleep(0)
    assert not waiter.done()
    gate.set()
    assert await holder == "unblocked"
    assert await waiter == "after"
    assert pool.count == 1


async def test_a_wait_past_the_bound_is_tier_busy() -> None:
    """A command that finds no connection free within the bound raises TierBusy (a miss)."""
    pool, _ = connections(1, wait=0.01)
    gate, holder = await hold(pool)
    with pytest.raises(TierBusy, match="no connection came free"):
        await pool.command("ECHO", "late")
    gate.set()
    await holder
    assert await pool.command("ECHO", "again") == "again"  # the connection came back
    assert pool.count == 1


async def test_a_waiter_cancelled_after_being_handed_a_connection_passes_it_on() -> None:
    """The connection handed to a waiter that is cancelled before it runs is not lost."""
    pool, _ = connections(1)
    gate, holder = await hold(pool)
    cancelled = asyncio.create_task(pool.command("ECHO", "never"))
    last = asyncio.create_task(pool.command("ECHO", "last"))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.sleep(0)  # the holder ends, handing the connection to ``cancelled``
    assert holder.done()
    cancelled.cancel()  # before it ran
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await last == "last"
    assert pool.count == 1


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    pool, _ = connections(1)
    gate, holder = await hold(pool)
    gone = asyncio.create_task(pool.command("ECHO", "gone"))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    gate.set()
    await holder
    assert await pool.command("ECHO", "next") == "next"
    assert pool.count == 1


async def test_a_broken_connection_is_reconnected_and_the_command_sent_once_more() -> None:
    pool, made = connections(None, broken_sends=1)
    assert await pool.command("ECHO", "x") == "x"
    assert made[0].disconnects == 1
    assert made[0].sent == [("ECHO", "x")]


async def test_without_retries_a_broken_connection_fails_the_command() -> None:
    pool, made = connections(None, retries=0, broken_sends=1)
    with pytest.raises(RedisConnectionError):
        await pool.command("ECHO", "x")
    assert await pool.command("ECHO", "y") == "y"  # the same connection, reconnected
    assert pool.count == 1


async def test_a_connection_broken_twice_fails_the_command_after_one_retry() -> None:
    pool, made = connections(None, broken_sends=2)
    with pytest.raises(RedisConnectionError):
        await pool.command("ECHO", "x")
    assert made[0].sent == []
    assert pool.count == 1


async def test_close_disconnects_every_connection() -> None:
    pool, made = connections(None)
    gate = asyncio.Event()
    blocked = [asyncio.create_task(pool.command("BLOCK", gate)) for _ in range(2)]
    await asyncio.sleep(0)
    await pool.close()
    assert [c.disconnects for c in made] == [1, 1]
    gate.set()
    await asyncio.gather(*blocked)
