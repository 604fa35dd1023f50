"""A healthy provider call through the whole pipeline vs the bare aiohttp request.

A local aiohttp server returns a quote; the anchor is ``session.get`` + ``json()`` on the same
session and server; polysource runs ``orch.fetch(QUOTE, key, skip_cache=True)`` through a
provider that makes the same request and maps it into a ``Quote``. Both share one event loop.

Three floors are reported beside it, each the bare request with one thing every design with
the required behaviour pays: the provider's own mapping into a ``Quote`` (the provider alone),
a per-try timeout (``clock.timeout`` around the request), and running the request in a task of
its own that the caller awaits (what keeps a cancelled caller from cancelling the call that
joined requests share).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from _harness import figure, measure
from aiohttp import web

from polysource import BaseProvider, Orchestrator, ProviderInfo, Request, load_config
from polysource.clock import SystemClock
from polysource.datasets import QUOTE, Quote
from polysource.emulation import serve

BODY = b'{"symbol": "AAPL", "price": 190.5, "currency": "USD"}'


async def _quote(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


class LocalQuotes(BaseProvider):
    info = ProviderInfo("local", datasets={"quote"})
    session: aiohttp.ClientSession
    base_url: str

    async def fetch(self, request: Request) -> Quote:
        async with self.session.get(f"{self.base_url}/quote/{request.key}") as response:
            body = await response.json()
        return Quote(body["symbol"], float(body["price"]), body["currency"])


async def run(quick: bool) -> list[dict[str, Any]]:
    app = web.Application()
    app.router.add_get("/quote/{symbol}", _quote)
    async with serve(app) as base_url, aiohttp.ClientSession() as session:
        LocalQuotes.session = session
        LocalQuotes.base_url = base_url
        config = load_config(environ={})
        orch = Orchestrator(config, plugins=[_Plugin()], entry_points=False, environ={})
        await orch.start()
        url = f"{base_url}/quote/AAPL"

        async def bare() -> Any:
            async with session.get(url) as response:
                return await response.json()

        async def polysource() -> Any:
            return await orch.fetch(QUOTE, "AAPL", skip_cache=True)

        assert orch._engine is not None
        provider = orch._engine.slots["local"].provider
        request = Request(QUOTE, "AAPL", "global", "free", None, deadline=float("inf"))
        clock = SystemClock()
        loop = asyncio.get_running_loop()

        async def mapped() -> Any:
            return await provider.fetch(request)

        async def timed() -> Any:
            async with clock.timeout(5.0):
                return await bare()

        async def tasked() -> Any:
            return await loop.create_task(bare())

        result = await measure(
            {
                "bare": bare,
                "polysource": polysource,
                "mapped": mapped,
                "timed": timed,
                "tasked": tasked,
            },
            repeats=3 if quick else 5,
            rounds=4 if quick else 12,
            ops=50,
            warmup=100,
        )
        await orch.close()
    b, p = result["bare"], result["polysource"]
    return [
        figure(
            "provider_call_p50_vs_bare",
            p["p50_ns"],
            b["p50_ns"],
            1.05,
            anchor_name="bare aiohttp GET + json() to the same local server",
            p99_ns=p["p99_ns"],
            anchor_p99_ns=b["p99_ns"],
        ),
        *(
            figure(
                f"provider_call_floor_{name}",
                result[name]["p50_ns"],
                b["p50_ns"],
                None,
                anchor_name="bare aiohttp GET + json() to the same local server",
            )
            for name in ("mapped", "timed", "tasked")
        ),
    ]


class _Plugin:
    plugin_name = "local"

    from polysource import hookimpl

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(LocalQuotes)
