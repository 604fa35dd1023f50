"""Liveness, readiness, per-provider health, counters and metrics (no authentication)."""

from __future__ import annotations

import os
from typing import Final

from aiohttp import web

from polysource.gateway import metrics, render
from polysource.gateway.app import GATEWAY
from polysource.models import HealthStatus

__all__ = ["add_routes"]

_JSON: Final = "application/json"
_NO_STORE: Final = {"Cache-Control": "no-store"}


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(
        body=render.dumps(value), status=status, content_type=_JSON, headers=_NO_STORE
    )


async def live(request: web.Request) -> web.StreamResponse:
    """``GET /health/live``: the process answers (``pid`` tells the workers apart)."""
    return _json({"status": "live", "pid": os.getpid()})


async def ready(request: web.Request) -> web.StreamResponse:
    """``GET /health/ready``: 200 once the orchestrator is started, 503 before and after.

    A shared service (Redis, SQL) that is down does not make the gateway unready: requests
    are then served without it (detached by design), which ``fleet.attached`` shows.
    """
    gw = request.app[GATEWAY]
    if not gw.started:
        return _json({"status": "starting"}, 503)
    fleet = dict(gw.orch.stats().fleet)
    return _json({"status": "ready", "fleet": fleet})


async def health(request: web.Request) -> web.StreamResponse:
    """``GET /health``: each provider's health; 503 when every provider is down."""
    gw = request.app[GATEWAY]
    if not gw.started:
        return _json({"status": "starting", "providers": {}}, 503)
    report = gw.orch.health()
    providers = {
        name: {
            "status": item.status.value,
            "breaker": item.breaker.value,
            "enabled": item.enabled,
            "in_rotation": item.in_rotation,
            "consecutive_failures": item.consecutive_failures,
            "uptime": item.uptime,
            "latency": item.latency,
            "last_error": gw.redact(item.last_error) if item.last_error else None,
        }
        for name, item in report.items()
    }
    statuses = {item.status for item in report.values()}
    if report and statuses == {HealthStatus.DOWN}:
        overall, code = "down", 503
    elif statuses <= {HealthStatus.HEALTHY, HealthStatus.UNKNOWN}:
        overall, code = "healthy", 200
    else:
        overall, code = "degraded", 200
    return _json({"status": overall, "providers": providers}, code)


async def stats(request: web.Request) -> web.StreamResponse:
    """``GET /stats``: the orchestrator's counters (no tenant data, no secrets)."""
    counters = request.app[GATEWAY].orch.stats()
    body = render.converter.unstructure(counters)
    body["hit_rate"] = counters.hit_rate
    return _json(body)


def add_routes(app: web.Application) -> None:
    """Add the health, stats and metrics routes."""
    app.router.add_get("/health/live", live, name="health:live")
    app.router.add_get("/health/ready", ready, name="health:ready")
    app.router.add_get("/health", health, name="health:providers")
    app.router.add_get("/stats", stats, name="health:stats")
    app.router.add_get("/metrics", metrics.metrics, name="health:metrics")
