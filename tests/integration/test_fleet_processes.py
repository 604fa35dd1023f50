"""Two engine processes on one Redis behave as one fleet.

Each process is ``fleet_worker.py`` (its own interpreter, event loop, provider doubles and
memory tier), driven over stdin/stdout. What the test waits for is a message crossing Redis
between processes, polled with a bound; nothing waits for a TTL or a breaker's timer.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio

REDIS_URL = "redis://localhost:6379/0"
WORKER = Path(__file__).with_name("fleet_worker.py")


class Process:
    """One worker process and its command pipe."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(orjson.dumps({"op": op, **fields}) + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=30)
        assert line, "the worker exited"
        reply: dict[str, Any] = orjson.loads(line)
        assert "error" not in reply, reply["error"]
        return reply

    async def until(self, condition: Callable[[dict[str, Any]], bool], what: str) -> None:
        for _ in range(500):
            if condition(await self.ask("state")):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    async def stop(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.write(b'{"op": "exit"}\n')
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@pytest.fixture
async def fleet() -> AsyncIterator[tuple[Process, Process, Callable[[str], Any]]]:
    """Two started workers on the shared Redis under a prefix of this test's own."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"this test needs a Redis at {REDIS_URL}: {exc}")
    prefix = f"ps-fleet-{uuid.uuid4().hex[:8]}"
    processes = []
    try:
        for _ in range(2):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(WORKER),
                REDIS_URL,
                prefix,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            processes.append(Process(process))
        for process in processes:
            assert (await process.ask("ready"))["ready"]

        async def stored(key: str) -> None:
            """Wait (bounded) until a write to the Redis tier for ``key`` has landed."""
            for _ in range(500):
                if [k async for k in client.scan_iter(match=f"{prefix}:*:{key}", count=1000)]:
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"{key} never reached Redis")

        yield processes[0], processes[1], stored
    finally:
        for process in processes:
            await process.stop()
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.unlink(*keys)
        await client.aclose()


async def test_two_processes_share_cache_breakers_rate_limits_and_single_flight(fleet):
    one, two, stored = fleet

    # A value cached by one is a hit in the other (from Redis, no provider call).
    await one.ask("answer", key="AAPL", price=101.0)
    assert (await one.ask("fetch", key="AAPL"))["cached"] is False
    await stored("AAPL")  # the tier write goes out in the background
    hit = await two.ask("fetch", key="AAPL")
    assert (hit["price"], hit["cached"], hit["tier"]) == (101.0, True, "redis")
    assert (await two.ask("state"))["alpha_calls"] == []

    # Concurrent identical requests from both make one provider call.
    await one.ask("hold", key="MSFT", price=300.0)
    await two.ask("answer", key="MSFT", price=999.0)
    await one.ask("start", key="MSFT")
    await one.until(lambda s: "MSFT" in s["alpha_calls"], "one's provider call")
    await two.ask("start", key="MSFT")
    await two.until(lambda s: s["waiting"], "two to wait on one's lease")
    await one.ask("release")
    first, second = await one.ask("wait", key="MSFT"), await two.ask("wait", key="MSFT")
    assert first["price"] == second["price"] == 300.0
    assert "MSFT" not in (await two.ask("state"))["alpha_calls"]

    # A breaker opened by failures seen in one process (threshold 2, one failure each) is
    # open in the other.
    await one.ask("fail", key="X")
    assert (await one.ask("fetch", key="X"))["ok"] is False
    await two.ask("fail", key="Y")
    assert (await two.ask("fetch", key="Y"))["ok"] is False
    await one.until(lambda s: s["breaker"] == "open", "the breaker to open in one")
    calls = len((await one.ask("state"))["alpha_calls"])
    refused = await one.ask("fetch", key="Z")
    assert refused["categories"] == ["circuit_open"]
    assert len((await one.ask("state"))["alpha_calls"]) == calls

    # A rate limit of 3 a minute holds across both processes together.
    outcomes = []
    for i in range(3):
        for process in (one, two):
            outcomes.append(
                await process.ask("fetch", dataset="fundamentals", key=f"R{i}-{id(process)}")
            )
    assert sum(o["ok"] for o in outcomes) == 3
    assert all(o["categories"] == ["rate_limit"] for o in outcomes if not o["ok"])
    beta_calls = [(await p.ask("state"))["beta_calls"] for p in (one, two)]
    assert sum(beta_calls) == 3
