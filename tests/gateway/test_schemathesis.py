"""Property-based requests from /openapi.json (schemathesis) against a live gateway: no 5xx
but the mapped provider failures, and every response conforms to the document."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from polysource import Orchestrator, Secret, load_config  # noqa: E402
from polysource.gateway import create_app, serve  # noqa: E402
from polysource.testing import FakeProvider  # noqa: E402

_MAPPED = {502, 503, 504}


@contextmanager
def live_gateway():
    """A gateway over a fake provider in a thread; yields its URL."""
    ready = threading.Event()
    state: dict = {}

    async def main():
        fake = FakeProvider("alpha", datasets={"quote", "fundamentals"}, max_batch_size=10)
        config = load_config(
            environ={},
            overrides={
                "telemetry": {"log": False},
                "gateway": {"admin_token": Secret.of("schemathesis-admin-token-0123")},
            },
        )
        orch = Orchestrator(config, plugins=[fake], entry_points=False)
        stop = asyncio.Event()
        state["stop"] = (asyncio.get_running_loop(), stop)

        def bound(url):
            state["url"] = url
            ready.set()

        await serve(create_app(orch), "127.0.0.1", 0, ready=bound, stop=stop)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield state["url"]
    finally:
        loop, stop = state["stop"]
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def test_generated_requests_get_no_unmapped_5xx():
    """Every operation of the document, fed generated input, answers below 500 (or a mapped
    provider failure), and within the document's responses."""
    with live_gateway() as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        checked = []
        for operation in schema.get_all_operations():
            op = operation.ok()

            @settings(
                max_examples=8,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=op.as_strategy())
            def run(case):
                response = case.call()
                assert response.status_code < 500 or response.status_code in _MAPPED, (
                    case.operation.label,
                    response.status_code,
                    response.text[:300],
                )

            run()
            checked.append(op.label)
    assert len(checked) >= 10
