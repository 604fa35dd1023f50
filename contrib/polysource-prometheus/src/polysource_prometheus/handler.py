"""The ``/metrics`` handler any aiohttp application can mount:
[`metrics_handler()`][polysource_prometheus.handler.metrics_handler]."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from polysource_prometheus.metrics import PrometheusMetrics

if TYPE_CHECKING:
    from aiohttp import web

    from polysource.orchestrator import Orchestrator

__all__ = ["metrics_handler"]

Handler = Callable[["web.Request"], Awaitable["web.Response"]]


def metrics_handler(source: Orchestrator | PrometheusMetrics | CollectorRegistry) -> Handler:
    """An aiohttp handler serving the exposition of ``source``'s registry.

    Mount it on any application:

        app.router.add_get("/metrics", metrics_handler(orch))

    The format follows the scraper's ``Accept`` header (Prometheus text, or OpenMetrics when
    asked for), with the content type prometheus_client gives for it. aiohttp is imported
    when the first scrape arrives, not when the plugin loads.

    Args:
        source: An orchestrator given a
            [`PrometheusMetrics`][polysource_prometheus.handler.PrometheusMetrics] plugin, the
            plugin itself, or any ``CollectorRegistry`` (``prometheus_client.REGISTRY`` too).

    Raises:
        ValueError: ``source`` is an orchestrator without exactly one ``PrometheusMetrics``.
    """
    registry = _registry(source)

    async def metrics(request: web.Request) -> web.Response:
        from aiohttp import web

        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})

    return metrics


def _registry(source: Orchestrator | PrometheusMetrics | CollectorRegistry) -> CollectorRegistry:
    if isinstance(source, CollectorRegistry):
        return source
    if isinstance(source, PrometheusMetrics):
        return source.registry
    found = {
        id(owner): owner
        for sink in source.registry.event_sinks
        if isinstance(owner := getattr(sink, "__self__", None), PrometheusMetrics)
    }
    if len(found) != 1:
        raise ValueError(
            f"the orchestrator has {len(found)} PrometheusMetrics plugins, not one: pass "
            "Orchestrator(plugins=[PrometheusMetrics()]), or give metrics_handler the plugin"
        )
    (metrics,) = found.values()
    return metrics.registry
