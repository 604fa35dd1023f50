"""``polysource serve --workers 2``: gunicorn's aiohttp worker, state shared through Redis."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import AsyncExitStack, contextmanager
from urllib.parse import urlsplit

import pytest

pytest.importorskip("gunicorn")
redis = pytest.importorskip("redis")

from polysource import Orchestrator, load_config  # noqa: E402
from polysource.emulation import EMULATOR_STATE, Faults, serve  # noqa: E402

REDIS = os.environ.get("POLYSOURCE_TEST_REDIS", "redis://localhost:6379/0")


@contextmanager
def tiingo_emulator():
    """A Tiingo emulator in a thread; yields (URL, its state for faults)."""
    ready = threading.Event()
    state: dict = {}

    async def main():
        async with AsyncExitStack() as stack:
            probe = Orchestrator(load_config(environ={}))
            app = probe.registry.emulators["tiingo"].factory(Faults())
            state["url"] = await stack.enter_async_context(serve(app))
            state["app"] = app
            stop = asyncio.Event()
            state["stop"] = (asyncio.get_running_loop(), stop)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield state["url"], state["app"][EMULATOR_STATE]
    finally:
        loop, stop = state["stop"]
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


@pytest.fixture
def redis_prefix():
    """A Redis key prefix of this test's own, deleted afterwards."""
    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"this test needs a Redis at {REDIS}: {exc}")
    prefix = f"psworkers-{uuid.uuid4().hex}"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.unlink(*keys)
    client.close()


@contextmanager
def workers(tmp_path, emulator_url, prefix):
    """``polysource serve --workers 2`` in a subprocess; yields (process, host, port)."""
    config = tmp_path / "polysource.toml"
    config.write_text(
        f"""
region = "US"
[telemetry]
log = false
[security]
secret = {{ env = "PSWORKERS_SECRET" }}
[cache]
tiers = ["memory://", "{REDIS}?prefix={prefix}"]
[fleet]
url = "{REDIS}?prefix={prefix}-fleet"
[providers.tiingo]
base_url = "{emulator_url}"
credentials = {{ api_key = {{ env = "PSWORKERS_TIINGO" }} }}
retry = {{ attempts = 1 }}
"""
    )
    env = {
        **os.environ,
        "POLYSOURCE_LOAD_PLUGINS": "tiingo,redis",
        "PSWORKERS_SECRET": "workers-test-secret-" + uuid.uuid4().hex,
        "PSWORKERS_TIINGO": "workers-test-token",
    }
    command = [sys.executable, "-m", "polysource", "serve", "--workers", "2", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--graceful-timeout", "10", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert " on http://" in line, process.stderr.read() if process.poll() else line
        url = urlsplit(line.split(" on ", 1)[1].split()[0])
        yield process, url.hostname, url.port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()
        process.stderr.close()


def _get(connection, path):
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")


def _two_workers(host, port):
    """Two keep-alive connections that reach different workers (bounded tries)."""
    seen = {}
    deadline = time.monotonic() + 20
    while len(seen) < 2 and time.monotonic() < deadline:
        connection = http.client.HTTPConnection(host, port, timeout=10)
        try:
            status, _, body = _get(connection, "/health/live")
        except (ConnectionError, http.client.HTTPException):
            connection.close()
            time.sleep(0.05)  # the workers are still booting
            continue
        if status == 200 and body["pid"] not in seen:
            seen[body["pid"]] = connection
        else:
            connection.close()
    assert len(seen) == 2, f"only workers {list(seen)} answered"
    return list(seen.values())


def test_two_workers_answer_and_share_the_cache(tmp_path, redis_prefix):
    """Both workers answer; a key fetched through one is a Redis hit through the other; a
    SIGTERM lets a request in flight finish before the workers exit."""
    with (
        tiingo_emulator() as (emulator_url, emulator),
        workers(tmp_path, emulator_url, redis_prefix) as (process, host, port),
    ):
        first, second = _two_workers(host, port)
        status, headers, body = _get(first, "/v1/quote/AAPL")
        assert status == 200 and body["source"] == "tiingo", body
        assert "fwd=miss" in headers["Cache-Status"]
        status, headers, again = _get(second, "/v1/quote/AAPL")
        assert status == 200 and again["data"] == body["data"]
        assert 'detail="redis"' in headers["Cache-Status"], headers["Cache-Status"]
        calls = emulator.stats()["total"]

        emulator.set_faults(Faults(latency=1.0))
        slow: dict = {}

        def slow_request():
            slow["answer"] = _get(first, "/v1/quote/MSFT")

        thread = threading.Thread(target=slow_request)
        thread.start()
        deadline = time.monotonic() + 10
        while emulator.stats()["total"] == calls and time.monotonic() < deadline:
            time.sleep(0.02)  # until the request reached the provider
        process.send_signal(signal.SIGTERM)
        thread.join(15)
        assert slow["answer"][0] == 200 and slow["answer"][2]["source"] == "tiingo"
        assert process.wait(timeout=20) == 0
        second.close()
        first.close()
