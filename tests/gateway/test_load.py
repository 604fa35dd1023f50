"""A bounded load run over loopback: every request gets exactly one response while an
emulator fails and the Redis behind the shared tier, the fleet and the quotas restarts."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from contextlib import AsyncExitStack

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from polysource import Orchestrator, Secret, load_config
from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource.gateway import create_app

REQUESTS = 400
CONCURRENCY = 16
SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM", "KO", "SPY", "QQQ")
BOUND = 60.0
"""Seconds the whole run may take."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _redis_server(port: int) -> subprocess.Popen[bytes]:
    """A redis-server of this test's own on ``port`` (never the shared one), answering."""
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return process
        except OSError:
            await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError("redis-server did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


async def test_every_request_gets_one_response_through_failures_and_a_redis_restart(keys):
    """400 requests, 16 at a time: an emulator outage and a Redis restart mid-run still give
    each request exactly one HTTP response (200, or a mapped 5xx problem), within bounds."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    pytest.importorskip("polysource_redis")
    port = _free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    prefix = f"load-{uuid.uuid4().hex[:8]}"
    redis = await _redis_server(port)
    try:
        async with AsyncExitStack() as stack:
            probe = Orchestrator(load_config(environ={}))
            emulators = {
                name: probe.registry.emulators[name].factory(Faults(latency=0.001, seed=3))
                for name in ("tiingo", "yahoo")
            }
            urls = {n: await stack.enter_async_context(serve(a)) for n, a in emulators.items()}
            section = keys.section()
            section["api_keys"]["alice"]["quota"] = "100000/hour"
            config = load_config(
                environ={},
                overrides={
                    "region": "US",
                    "telemetry": {"log": False},
                    "security": {"secret": Secret.of("load-run-secret-" + "x" * 32)},
                    "cache": {"tiers": ["memory://", f"{redis_url}?prefix={prefix}"]},
                    "fleet": {"url": f"{redis_url}?prefix={prefix}-fleet", "timeout": 0.2},
                    "rate_limit_prefix": prefix,
                    "gateway": section,
                    "plugins": {"only": ["tiingo", "yahoo", "redis"]},
                    "providers": {
                        "tiingo": {
                            "base_url": urls["tiingo"],
                            "credentials": {"api_key": Secret.of("load-token")},
                            "retry": {"attempts": 1},
                        },
                        "yahoo": {"base_url": urls["yahoo"], "retry": {"attempts": 1}},
                    },
                },
            )
            orch = Orchestrator(config)
            server = TestServer(create_app(orch))
            await server.start_server()
            stack.push_async_callback(server.close)
            session = await stack.enter_async_context(aiohttp.ClientSession())
            headers = keys.auth(keys.alice)
            statuses: list[int] = []
            failures: list[str] = []
            sent = 0
            started = time.monotonic()

            async def client() -> None:
                nonlocal sent
                while sent < REQUESTS:
                    n = sent
                    sent += 1
                    url = server.make_url(f"/v1/quote/{SYMBOLS[n % len(SYMBOLS)]}?max_age=0.05")
                    try:
                        async with session.get(url, headers=headers) as response:
                            await response.read()
                            statuses.append(response.status)
                    except aiohttp.ClientError as exc:
                        failures.append(f"{type(exc).__name__}: {exc}")

            async def chaos() -> None:
                nonlocal redis
                while len(statuses) < REQUESTS // 4:
                    await asyncio.sleep(0.01)
                tiingo = emulators["tiingo"][EMULATOR_STATE]
                tiingo.set_faults(Faults.from_mapping({"outage": True}, tiingo.faults))
                while len(statuses) < REQUESTS // 2:
                    await asyncio.sleep(0.01)
                await asyncio.to_thread(_stop, redis)
                await asyncio.sleep(0.3)
                redis = await _redis_server(port)
                tiingo.set_faults(Faults.from_mapping({"outage": False}, tiingo.faults))

            async with asyncio.timeout(BOUND):
                await asyncio.gather(chaos(), *(client() for _ in range(CONCURRENCY)))
            elapsed = time.monotonic() - started
    finally:
        _stop(redis)
    assert failures == []
    assert len(statuses) == REQUESTS
    assert set(statuses) <= {200, 502, 503, 504}, sorted(set(statuses))
    assert statuses.count(200) >= REQUESTS // 2
    assert elapsed < BOUND
