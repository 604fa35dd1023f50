"""The webhook plugin: health and breaker changes posted, bounded, retried, never blocking."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.emulation import serve
from polysource.events import Event, EventKind
from polysource.testing import FakeClock, FakeProvider
from polysource.webhook import WebhookSink


def _receiver(statuses):
    """An app that records posted JSON bodies and answers the given statuses in turn."""
    received = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        status = statuses.pop(0) if statuses else 200
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    return app, received


async def _until(condition, limit=200):
    for _ in range(limit):  # bounded wait for local I/O, at most ~2 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_health_and_breaker_changes_are_posted():
    """A provider failing until it is down posts its health and breaker changes, no secret."""
    app, received = _receiver([])
    async with serve(app) as url:
        fake = FakeProvider("flaky").fail_always("*", "provider_down")
        config = load_config(
            environ={},
            overrides={
                "telemetry": {"webhook_url": f"{url}/hook", "log": False},
                "providers": {
                    "flaky": {"retry": {"attempts": 1}, "breaker": {"failure_threshold": 3}}
                },
            },
        )
        async with Orchestrator(config, plugins=[fake], entry_points=False, environ={}) as orch:
            for i in range(5):
                with contextlib.suppress(Exception):
                    await orch.fetch(QUOTE, f"K{i}")
            await _until(lambda: any(b["event"] == "breaker" for b in received))
            await _until(lambda: any(b.get("to") == "degraded" for b in received))
    kinds = {body["event"] for body in received}
    assert kinds <= {"health", "breaker"} and kinds == {"health", "breaker"}
    assert all(body["provider"] == "flaky" for body in received)
    assert {"from": "closed", "to": "open"}.items() <= next(
        b for b in received if b["event"] == "breaker"
    ).items()


async def test_a_failed_post_is_retried():
    """A 500 from the receiver is retried; the event is delivered once it answers 200."""
    app, received = _receiver([500])
    clock = FakeClock()
    async with serve(app) as url:
        sink = WebhookSink(f"{url}/hook", clock, retries=2)

        class Owner:
            def spawn(self, coro, name=None):
                return asyncio.get_running_loop().create_task(coro)

        sink.startup(Owner())
        sink.on_event(Event(EventKind.HEALTH, 1.0, provider="p", detail={"to": "down"}))
        await _until(lambda: len(received) == 1)
        await clock.advance(0.1)
        await _until(lambda: sink.sent == 1)
        await sink.shutdown(Owner())
    assert len(received) == 2 and received[0] == received[1]
    assert (sink.sent, sink.failed) == (1, 0)


def test_queue_is_bounded_and_on_event_never_waits():
    """With no sender running, events beyond the bound drop the oldest and are counted."""
    sink = WebhookSink("http://127.0.0.1:9/hook", FakeClock(), queue_size=3)
    for i in range(10):
        sink.on_event(Event(EventKind.BREAKER, float(i), provider="p"))
    assert len(sink.queue) == 3 and sink.dropped == 7
    assert [body["at"] for body in sink.queue] == [7.0, 8.0, 9.0]


async def test_a_dead_webhook_never_affects_requests():
    """With the webhook unreachable, requests still succeed and the failures are only counted."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    fake = FakeProvider("flaky")
    fake.fail("K0", "provider_down", times=1)
    config = load_config(
        environ={},
        overrides={
            "telemetry": {
                "webhook_url": f"http://127.0.0.1:{port}/hook",
                "log": False,
                "webhook_retries": 0,
            },
            "providers": {"flaky": {"retry": {"attempts": 1}}},
        },
    )
    async with Orchestrator(config, plugins=[fake], entry_points=False, environ={}) as orch:
        loop = asyncio.get_running_loop()
        began = loop.time()
        results = []
        for i in range(20):
            with contextlib.suppress(Exception):
                results.append(await orch.fetch(QUOTE, f"K{i}"))
        assert loop.time() - began < 1.0
        assert len(results) == 19
        sink = next(p for p in orch._pm.pm.get_plugins() if isinstance(p, WebhookSink))
        await _until(lambda: sink.failed >= 1)
        assert sink.sent == 0


async def test_a_redirect_is_not_followed():
    """A receiver answering 307 to another server makes the post fail; nothing reaches there."""
    elsewhere, received_elsewhere = _receiver([])
    clock = FakeClock()
    async with serve(elsewhere) as other:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(f"{other}/hook")

        app = web.Application()
        app.router.add_post("/hook", redirect)
        async with serve(app) as url:
            sink = WebhookSink(f"{url}/hook", clock, retries=0)

            class Owner:
                def spawn(self, coro, name=None):
                    return asyncio.get_running_loop().create_task(coro)

            sink.startup(Owner())
            sink.on_event(Event(EventKind.HEALTH, 1.0, provider="p", detail={"to": "down"}))
            await _until(lambda: sink.failed == 1)
            await sink.shutdown(Owner())
    assert received_elsewhere == []
    assert sink.sent == 0
