"""The live status dashboard at ``/dashboard``, behind the admin token.

A browser presents the token once, through the login form (``POST /dashboard/login``) or
``/dashboard?token=...``; the answer sets an ``HttpOnly; SameSite=Strict`` session cookie
whose value is a keyed digest of the token (never the token), compared in constant time, and
redirects to the bare ``/dashboard`` so the token does not stay in the address bar. The page
is static (no data, no token in it); its script reads ``dashboard/state`` once and then
follows ``dashboard/events``, a server-sent event stream of the same state every second.
Assets ship in the package: nothing is loaded from another origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from importlib import resources
from typing import Any, Final

from aiohttp import web

from polysource.gateway import render
from polysource.gateway.app import GATEWAY, Gateway
from polysource.gateway.problems import Problem
from polysource.models import HealthStatus

__all__ = ["COOKIE", "INTERVAL", "add_routes", "state"]

COOKIE: Final = "polysource_dashboard"
INTERVAL: Final = 1.0
"""Seconds between two events of the stream."""

_ASSETS: Final = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
}
_SECURITY_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _asset(name: str) -> bytes:
    return resources.files("polysource.gateway").joinpath("static", name).read_bytes()


def _html(request: web.Request, name: str, status: int = 200) -> web.Response:
    """A page of the dashboard, its links made absolute from the dashboard's own path."""
    base = html.escape(request.url.path.removesuffix("/login"), quote=True)
    return web.Response(
        body=_asset(name).replace(b"{{base}}", base.encode()),
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers=_SECURITY_HEADERS,
    )


def _enabled(gw: Gateway) -> None:
    if not gw.auth.admin_enabled:
        raise Problem(
            404,
            "admin-disabled",
            "the dashboard is off: set [gateway] admin_token to turn it on",
        )


def _signed_in(request: web.Request) -> bool:
    gw = request.app[GATEWAY]
    _enabled(gw)
    return gw.auth.is_dashboard_session(request.cookies.get(COOKIE))


def _sign_in(request: web.Request) -> web.Response:
    """Redirect to the bare dashboard URL with the session cookie set."""
    gw = request.app[GATEWAY]
    page = request.url.path.removesuffix("/login")
    response = web.Response(status=303, headers={"Location": page})
    response.set_cookie(
        COOKIE,
        gw.auth.dashboard_session() or "",
        path=page,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    response.headers.update(_SECURITY_HEADERS)
    return response


async def page(request: web.Request) -> web.StreamResponse:
    """``GET /dashboard``: the dashboard, or the login form without a session."""
    gw = request.app[GATEWAY]
    _enabled(gw)
    token = request.query.get("token")
    if token is not None:
        if gw.auth.is_admin_token(token):
            return _sign_in(request)
        return _html(request, "login.html", 401)
    if not _signed_in(request):
        return _html(request, "login.html", 401)
    return _html(request, "dashboard.html")


async def login(request: web.Request) -> web.StreamResponse:
    """``POST /dashboard/login`` (form field ``token``): set the session cookie."""
    gw = request.app[GATEWAY]
    _enabled(gw)
    form = await request.post()
    token = form.get("token")
    if isinstance(token, str) and gw.auth.is_admin_token(token):
        return _sign_in(request)
    return _html(request, "login.html", 401)


async def logout(request: web.Request) -> web.StreamResponse:
    """``POST /dashboard/logout``: drop the session cookie."""
    page_path = request.url.path.removesuffix("/logout")
    response = web.Response(status=303, headers={"Location": page_path})
    response.del_cookie(COOKIE, path=page_path)
    return response


async def asset(request: web.Request) -> web.StreamResponse:
    """``GET /dashboard/assets/{name}``: the dashboard's stylesheet and script."""
    name = request.match_info["name"]
    kind = _ASSETS.get(name)
    if kind is None:
        raise Problem(404, "route-not-found", "no such asset")
    return web.Response(
        body=_asset(name),
        content_type=kind,
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


def _require(request: web.Request) -> Gateway:
    if not _signed_in(request):
        raise Problem(401, "bad-credentials", "sign in to the dashboard first")
    return request.app[GATEWAY]


def state(gw: Gateway) -> dict[str, Any]:
    """What the dashboard shows, as plain JSON values (no secrets, no tenant data)."""
    orch = gw.orch
    counters = orch.stats()
    report = orch.health() if gw.started else {}
    providers: dict[str, Any] = {}
    for name, item in report.items():
        counts = counters.providers.get(name)
        settings = orch.config.providers.get(name)
        entry = orch.registry.providers.get(name)
        budget = settings.budget if settings is not None else None
        limits = (settings.rate_limits if settings is not None else None) or (
            entry.info.rate_limits if entry is not None else ()
        )
        spent = counts.cost_spent if counts else 0.0
        providers[name] = {
            "status": item.status.value,
            "breaker": item.breaker.value,
            "enabled": item.enabled,
            "in_rotation": item.in_rotation,
            "consecutive_failures": item.consecutive_failures,
            "uptime": item.uptime,
            "latency": item.latency,
            "last_error": gw.redact(item.last_error) if item.last_error else None,
            "last_error_at": item.last_error_at,
            "attempts": counts.attempts if counts else 0,
            "successes": counts.successes if counts else 0,
            "failures": counts.failures if counts else 0,
            "retries": counts.retries if counts else 0,
            "skipped": counts.skipped if counts else 0,
            "budget": (
                {
                    "limit": budget.limit,
                    "period": budget.period,
                    "spent": spent,
                    "remaining": max(0.0, budget.limit - spent),
                }
                if budget is not None
                else None
            ),
            "cost_spent": spent,
            "rate_limits": list(limits),
        }
    statuses = {p["status"] for p in providers.values()}
    if not providers:
        overall = "starting" if not gw.started else "healthy"
    elif statuses == {HealthStatus.DOWN.value}:
        overall = "down"
    elif statuses <= {HealthStatus.HEALTHY.value, HealthStatus.UNKNOWN.value}:
        overall = "healthy"
    else:
        overall = "degraded"
    lookups = counters.cache_hits + counters.cache_misses
    return {
        "now": time.time(),
        "started_at": gw.started_at,
        "status": overall,
        "providers": providers,
        "cache": {
            "hit_rate": counters.hit_rate,
            "hits": counters.cache_hits,
            "misses": counters.cache_misses,
            "layers": {
                layer: {"hits": hits, "share": hits / lookups if lookups else 0.0}
                for layer, hits in sorted(counters.hits_by_tier.items())
            },
        },
        "requests": counters.requests,
        "stale_served": counters.stale_served,
        "deduplicated": counters.deduplicated,
        "batches": counters.batches,
        "fleet": dict(counters.fleet),
        "limits": {
            "max_concurrency": gw.config.max_concurrency,
            "deadline": gw.config.deadline,
            "max_batch": gw.config.max_batch,
        },
        "activity": {
            "failovers": gw.activity.failovers,
            "failures": gw.activity.failures,
            "recent": gw.activity.recent()[:20],
        },
    }


async def state_json(request: web.Request) -> web.StreamResponse:
    """``GET /dashboard/state``: the dashboard's state once."""
    gw = _require(request)
    return web.Response(
        body=render.dumps(state(gw)),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /dashboard/events``: the state every second as server-sent events.

    The stream ends when the app shuts down, so a graceful stop is not held up by it.
    """
    gw = _require(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    while not gw.closing.is_set():
        try:
            await response.write(b"data: " + render.dumps(state(gw)) + b"\n\n")
        except (ConnectionResetError, RuntimeError):
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gw.closing.wait(), INTERVAL)
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    """Add the dashboard's routes (they check the session themselves)."""
    router = app.router
    router.add_get("/dashboard", page, name="dashboard:page")
    router.add_post("/dashboard/login", login, name="dashboard:login")
    router.add_post("/dashboard/logout", logout, name="dashboard:logout")
    router.add_get("/dashboard/state", state_json, name="dashboard:state")
    router.add_get("/dashboard/events", events, name="stream:dashboard-events")
    router.add_get("/dashboard/assets/{name}", asset, name="dashboard:asset")
