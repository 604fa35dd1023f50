"""The Redis tier through the engine, against a redis-server this test starts and stops."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
import redis

import polysource_redis
from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.testing import EventRecorder, FakeProvider


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(port: int) -> subprocess.Popen[bytes]:
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
    client = redis.Redis(port=port, socket_timeout=0.5)
    for _ in range(100):  # bounded wait for the server to accept connections (~5 s)
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    client.close()
    return process


@pytest.fixture
def redis_server():
    """A private redis-server on a free port: (port, start, stop) controls; always killed."""
    port = _free_port()
    state = {"process": _start(port)}

    def stop() -> None:
        state["process"].kill()
        state["process"].wait(timeout=10)

    def start() -> None:
        state["process"] = _start(port)

    yield port, start, stop, state
    process = state["process"]
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)


def _config(port: int, prefix: str, **cache):
    return load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {
                "tiers": ["memory://", f"redis://127.0.0.1:{port}/0?prefix={prefix}"],
                "tier_timeout": 0.2,
                "tier_cooldown": 60.0,
                **cache,
            },
            "providers": {"a": {"retry": {"attempts": 1}}},
        },
    )


async def _until(condition, limit=200):
    for _ in range(limit):  # bounded wait for background I/O (~2 s)
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


def _keys(port: int, prefix: str) -> list[bytes]:
    client = redis.Redis(port=port)
    try:
        return list(client.scan_iter(f"{prefix}:*"))
    finally:
        client.close()


async def test_a_value_cached_by_one_process_is_a_hit_in_another(redis_server):
    """Another engine process, whose own provider would fail, is answered from L2."""
    port, *_ = redis_server
    prefix = f"ps-test-{uuid.uuid4().hex[:8]}"
    fake = FakeProvider("a")
    async with Orchestrator(
        _config(port, prefix), plugins=[fake, polysource_redis], entry_points=False, environ={}
    ) as orch:
        await orch.fetch(QUOTE, "AAPL")
        await _until(lambda: len(_keys(port, prefix)) == 1)
    script = textwrap.dedent(f"""
        import asyncio, json
        import polysource_redis
        from polysource import Orchestrator, load_config
        from polysource.testing import FakeProvider
        config = load_config(environ={{}}, overrides={{
            "telemetry": {{"log": False}},
            "cache": {{"tiers": ["memory://", "redis://127.0.0.1:{port}/0?prefix={prefix}"]}},
        }})
        async def main():
            down = FakeProvider("a").fail_always("*", "provider_down")
            async with Orchestrator(config, plugins=[down, polysource_redis], entry_points=False,
                                    environ={{}}) as orch:
                r = await orch.fetch("quote", "AAPL")
                print(json.dumps({{"tier": r.tier, "source": r.source, "price": r.data.price}}))
        asyncio.run(main())
    """)
    output = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
        check=True,
    ).stdout
    other = json.loads(output.strip().splitlines()[-1])
    assert other["tier"] == "redis" and other["source"] == "a"


async def test_redis_dying_mid_load_never_fails_a_request(redis_server):
    """Redis stopped: answers come from the provider, the tier is detached, then reattached."""
    port, start, stop, _ = redis_server
    prefix = f"ps-test-{uuid.uuid4().hex[:8]}"
    recorder = EventRecorder()
    fake = FakeProvider("a")
    async with Orchestrator(
        _config(port, prefix),
        plugins=[fake, recorder, polysource_redis],
        entry_points=False,
        environ={},
    ) as orch:
        await orch.fetch(QUOTE, "K0")
        stop()
        for i in range(1, 6):
            assert (await orch.fetch(QUOTE, f"K{i}")).source == "a"
        assert [e.detail["state"] for e in recorder.of("tier")] == ["detached"]
        start()
        orch.reattach_tiers()
        await orch.fetch(QUOTE, "K9")
        await _until(lambda: any(k.endswith(b":K9") for k in _keys(port, prefix)))
        orch.clear_cache()
        assert (await orch.fetch(QUOTE, "K9")).tier == "redis"


async def test_a_paused_redis_costs_one_timeout_then_is_skipped(redis_server):
    """SIGSTOP: the first miss waits at most about the tier timeout, later ones not at all."""
    port, _, _, state = redis_server
    prefix = f"ps-test-{uuid.uuid4().hex[:8]}"
    fake = FakeProvider("a")
    async with Orchestrator(
        _config(port, prefix), plugins=[fake, polysource_redis], entry_points=False, environ={}
    ) as orch:
        await orch.fetch(QUOTE, "WARM")
        state["process"].send_signal(signal.SIGSTOP)
        try:
            began = time.perf_counter()
            assert (await orch.fetch(QUOTE, "A")).source == "a"
            first = time.perf_counter() - began
            began = time.perf_counter()
            for key in ("B", "C", "D"):
                assert (await orch.fetch(QUOTE, key)).source == "a"
            later = time.perf_counter() - began
        finally:
            state["process"].send_signal(signal.SIGCONT)
    assert 0.15 < first < 1.0
    assert later < 0.1
