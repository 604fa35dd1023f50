"""The Prometheus exporter's cost: an L1 hit and a provider call with and without it.

Two orchestrators run side by side in one event loop, identical but for a
``PrometheusMetrics`` plugin in one of them: an L1 hit through ``await orch.fetch(...)``
(budget 2x the hit without the exporter) and a healthy provider call to a local aiohttp
server (``skip_cache=True``; budget 1.05x at p50). A scrape of the exporter's registry is
reported beside them, without a budget.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from _harness import figure, measure
from aiohttp import web
from prometheus_client import generate_latest
from provider_call import LocalQuotes, _Plugin, _quote

from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.emulation import serve
from polysource.testing import FakeProvider
from polysource_prometheus import PrometheusMetrics


def _orchestrator(*plugins: object) -> Orchestrator:
    # The default configuration: structlog logger (warning) and stats on.
    return Orchestrator(load_config(environ={}), plugins=plugins, entry_points=False, environ={})


async def _hits(quick: bool) -> dict[str, dict[str, float]]:
    plain = _orchestrator(FakeProvider("bench"))
    metrics = PrometheusMetrics()
    exported = _orchestrator(FakeProvider("bench"), metrics)
    for orch in (plain, exported):
        await orch.start()
        await orch.fetch(QUOTE, "AAPL")

    async def without() -> Any:
        return await plain.fetch(QUOTE, "AAPL")

    async def with_exporter() -> Any:
        return await exported.fetch(QUOTE, "AAPL")

    result = await measure(
        {"without": without, "with": with_exporter},
        repeats=3 if quick else 7,
        rounds=10 if quick else 30,
    )
    assert (await with_exporter()).cached
    for orch in (plain, exported):
        await orch.close()
    return result


async def _calls(quick: bool) -> tuple[dict[str, dict[str, float]], float]:
    app = web.Application()
    app.router.add_get("/quote/{symbol}", _quote)
    async with serve(app) as base_url, aiohttp.ClientSession() as session:
        LocalQuotes.session = session
        LocalQuotes.base_url = base_url
        plain = _orchestrator(_Plugin())
        metrics = PrometheusMetrics()
        exported = _orchestrator(_Plugin(), metrics)
        for orch in (plain, exported):
            await orch.start()

        async def without() -> Any:
            return await plain.fetch(QUOTE, "AAPL", skip_cache=True)

        async def with_exporter() -> Any:
            return await exported.fetch(QUOTE, "AAPL", skip_cache=True)

        result = await measure(
            {"without": without, "with": with_exporter},
            repeats=3 if quick else 5,
            rounds=4 if quick else 12,
            ops=50,
            warmup=100,
        )
        start = time.perf_counter_ns()
        scrapes = 100
        for _ in range(scrapes):
            generate_latest(metrics.registry)
        scrape_ns = (time.perf_counter_ns() - start) / scrapes
        for orch in (plain, exported):
            await orch.close()
    return result, scrape_ns


async def run(quick: bool) -> list[dict[str, Any]]:
    hits = await _hits(quick)
    calls, scrape_ns = await _calls(quick)
    return [
        figure(
            "prometheus_l1_hit_vs_without",
            hits["with"]["median_ns"],
            hits["without"]["median_ns"],
            2.0,
            anchor_name="the same L1 hit without the exporter",
            p99_ns=hits["with"]["p99_ns"],
            anchor_p99_ns=hits["without"]["p99_ns"],
        ),
        figure(
            "prometheus_provider_call_p50_vs_without",
            calls["with"]["p50_ns"],
            calls["without"]["p50_ns"],
            1.05,
            anchor_name="the same provider call without the exporter",
            p99_ns=calls["with"]["p99_ns"],
            anchor_p99_ns=calls["without"]["p99_ns"],
        ),
        figure(
            "prometheus_scrape",
            scrape_ns,
            calls["without"]["p50_ns"],
            None,
            anchor_name="one provider call without the exporter",
        ),
    ]
