"""``GET /metrics``: the exposition of the metrics exporter a plugin provides.

Core never imports an exporter. ``[telemetry] prometheus = true`` asks the installed plugins
for one through the ``metrics_exporter`` hook
([`exporters()`][polysource.gateway.metrics.exporters]), and the orchestrator is
built with the answer as one more plugin; at start-up the gateway takes the
``metrics_exposition`` implementations from the orchestrator's registry, once, and calls
them on each scrape. With none, ``/metrics`` answers 404 saying how to turn it on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from polysource.config import Config
from polysource.errors import ConfigError
from polysource.gateway.app import GATEWAY
from polysource.gateway.problems import Problem

__all__ = ["exporters", "metrics"]

_NOT_ON: Final = (
    "no metrics exporter is configured: install polysource[prometheus] and set "
    "[telemetry] prometheus = true (or pass a PrometheusMetrics plugin to the orchestrator)"
)


def exporters(config: Config) -> list[object]:
    """The exporter plugins ``config`` asks for: give them to ``Orchestrator(plugins=...)``.

    Raises:
        ConfigError: ``[telemetry] prometheus`` is on but no installed plugin builds an
            exporter.
    """
    if not config.telemetry.prometheus:
        return []
    from polysource.plugins import PluginManager

    pm = PluginManager(
        block=config.plugins.block,
        only=config.plugins.only,
        builtins=False,
    )
    exporter = pm.pm.hook.metrics_exporter()
    if exporter is None:
        raise ConfigError(
            "no installed plugin exports Prometheus metrics: install polysource[prometheus]",
            path="telemetry.prometheus",
        )
    return [exporter]


def exposition(functions: tuple[Callable[..., Any], ...]) -> Callable[[str], Any] | None:
    """One callable over the ``metrics_exposition`` implementations (first answer wins)."""
    if not functions:
        return None

    def call(accept: str) -> tuple[str, bytes] | None:
        for function in functions:
            answer = function(accept=accept)
            if answer is not None:
                return answer  # type: ignore[no-any-return]
        return None

    return call


async def metrics(request: web.Request) -> web.StreamResponse:
    """``GET /metrics``: the exporter's exposition, or 404 when none is configured."""
    render = request.app[GATEWAY].metrics
    answer = None if render is None else render(request.headers.get("Accept", ""))
    if answer is None:
        raise Problem(404, "metrics-not-configured", _NOT_ON)
    content_type, body = answer
    return web.Response(
        body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"}
    )
