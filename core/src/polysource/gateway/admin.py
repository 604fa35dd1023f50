"""The operator routes under ``/v1/admin/``, behind the admin bearer token.

Without ``[gateway] admin_token`` every one of them answers 404 (fail closed); with it, a
request without the exact token answers 401. The middleware checks the token before a handler
runs.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from polysource.gateway import render
from polysource.gateway.app import GATEWAY
from polysource.gateway.inputs import check_key, json_body, query
from polysource.gateway.problems import Problem
from polysource.models import BatchResult

__all__ = ["add_routes"]

_JSON: Final = "application/json"
_ACTIONS: Final = ("disable", "enable", "reset")
_DAY: Final = 86400.0


def _bad(detail: str) -> Problem:
    return Problem(400, "invalid-request", detail, category="invalid_request")


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(
        body=render.dumps(value),
        status=status,
        content_type=_JSON,
        headers={"Cache-Control": "no-store"},
    )


async def stats(request: web.Request) -> web.StreamResponse:
    """``GET /v1/admin/stats``: per provider its breaker, health, counters and last error, and
    the 24-hour success rate and latency from the audit log when one is configured."""
    orch = request.app[GATEWAY].orch
    counters = orch.stats()
    audit: dict[str, Any] = {}
    if orch.audit is not None and hasattr(orch.audit, "stats"):
        audit = render.converter.unstructure(await orch.audit.stats(_DAY))
    providers = {}
    for name, health in orch.health().items():
        counts = counters.providers.get(name)
        providers[name] = {
            "status": health.status.value,
            "breaker": health.breaker.value,
            "enabled": health.enabled,
            "in_rotation": health.in_rotation,
            "uptime": health.uptime,
            "latency": health.latency,
            "last_error": request.app[GATEWAY].redact(health.last_error or "") or None,
            "attempts": counts.attempts if counts else 0,
            "successes": counts.successes if counts else 0,
            "failures": counts.failures if counts else 0,
            "skipped": counts.skipped if counts else 0,
            "last_24h": audit.get(name),
        }
    return _json(
        {
            "providers": providers,
            "cache": {"hit_rate": counters.hit_rate, "hits_by_tier": dict(counters.hits_by_tier)},
            "requests": counters.requests,
            "deduplicated": counters.deduplicated,
            "stale_served": counters.stale_served,
            "audit": orch.audit is not None,
        }
    )


async def invalidate(request: web.Request) -> web.StreamResponse:
    """``DELETE /v1/admin/cache/{dataset}`` (``?key=...`` repeated, or ``?pattern=``,
    ``?region=``, ``?tenant=``): drop cached values from every tier and process."""
    gw = request.app[GATEWAY]
    ds = gw.dataset(request.match_info["dataset"])
    allowed = {"key", "pattern", "region", "tenant"}
    unknown = set(request.query) - allowed
    if unknown:
        raise _bad(f"unknown query parameter(s) {', '.join(sorted(unknown))[:80]}")
    keys = [check_key(k, gw.config.max_key_length) for k in request.query.getall("key", [])]
    single = {n: request.query.getall(n, []) for n in ("pattern", "region", "tenant")}
    if any(len(v) > 1 for v in single.values()):
        raise _bad("pattern, region and tenant are given at most once")
    pattern, region, tenant = (v[0] if v else None for v in single.values())
    await gw.orch.invalidate(ds.name, keys or None, pattern=pattern, region=region, tenant=tenant)
    return _json({"dataset": ds.name, "invalidated": keys or pattern or "*"})


async def invalidate_all(request: web.Request) -> web.StreamResponse:
    """``DELETE /v1/admin/cache``: drop every dataset's cached values."""
    gw = request.app[GATEWAY]
    query(request, {})
    names = sorted(gw.orch.registry.datasets)
    for name in names:
        await gw.orch.invalidate(name)
    return _json({"invalidated": names})


async def prefetch(request: web.Request) -> web.StreamResponse:
    """``POST /v1/admin/prefetch`` with ``{"dataset", "keys", "region"?, "tier"?,
    "tenant"?}``: warm the cache with those keys."""
    gw = request.app[GATEWAY]
    body = await json_body(request)
    if not isinstance(body, dict) or not {"dataset", "keys"} <= set(body):
        raise _bad('the body must be {"dataset": ..., "keys": [...]}')
    unknown = set(body) - {"dataset", "keys", "region", "tier", "tenant"}
    if unknown:
        raise _bad(f"unknown field(s) {', '.join(sorted(map(str, unknown)))[:80]}")
    keys = body["keys"]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise _bad('"keys" must be a non-empty list of strings')
    if len(keys) > gw.config.max_batch:
        raise _bad(f"at most {gw.config.max_batch} keys at a time, got {len(keys)}")
    for name in ("dataset", "region", "tier", "tenant"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise _bad(f"{name!r} must be a string")
    ds = gw.dataset(body["dataset"])
    for key in keys:
        check_key(key, gw.config.max_key_length)
    result: BatchResult[Any] = await gw.orch.fetch_many(
        ds.name, keys, region=body.get("region"), tier=body.get("tier"), tenant=body.get("tenant")
    )
    summary = result.summary
    return _json(
        {
            "dataset": ds.name,
            "warmed": summary.successful,
            "failed": sorted(result.errors),
            "cached": summary.cached,
            "fresh": summary.fresh,
        }
    )


async def control(request: web.Request) -> web.StreamResponse:
    """``POST /v1/admin/providers/{name}/{disable|enable|reset}``: take a provider out of
    routing, put it back, or close its breaker."""
    gw = request.app[GATEWAY]
    name = request.match_info["name"]
    action = request.match_info["action"]
    if name not in gw.orch.registry.providers:
        raise Problem(404, "unknown-name", f"unknown provider {name[:40]!r}", category="not_found")
    if action == "disable":
        gw.orch.disable(name)
    elif action == "enable":
        gw.orch.enable(name)
    elif action == "reset":
        gw.orch.reset_breaker(name)
    else:
        raise Problem(404, "unknown-name", f"unknown action; actions: {', '.join(_ACTIONS)}")
    return _json({"provider": name, "action": action})


async def rank(request: web.Request) -> web.StreamResponse:
    """``POST /v1/admin/providers/{name}/rank`` with ``{"region": ..., "rank": N}``."""
    gw = request.app[GATEWAY]
    name = request.match_info["name"]
    body = await json_body(request)
    if (
        not isinstance(body, dict)
        or set(body) != {"region", "rank"}
        or not isinstance(body["region"], str)
        or not isinstance(body["rank"], int)
        or isinstance(body["rank"], bool)
    ):
        raise _bad('the body must be {"region": "<region>", "rank": <integer>}')
    gw.orch.set_rank(name, body["region"], body["rank"])
    return _json({"provider": name, "region": body["region"], "rank": body["rank"]})


_JOB_ACTIONS: Final = ("run", "pause", "resume")


async def jobs(request: web.Request) -> web.StreamResponse:
    """``GET /v1/admin/jobs``: every job with its schedule, last run, outcome and counts."""
    orch = request.app[GATEWAY].orch
    return _json({"jobs": [info.as_dict() for info in orch.jobs.list()]})


async def job_control(request: web.Request) -> web.StreamResponse:
    """``POST /v1/admin/jobs/{name}/run|pause|resume``: run now (enqueued when workers run the
    jobs), pause or resume one job."""
    orch = request.app[GATEWAY].orch
    name = request.match_info["name"]
    action = request.match_info["action"]
    if name not in orch.jobs.names():
        raise Problem(404, "unknown-name", f"unknown job; jobs: {', '.join(orch.jobs.names())}")
    if action == "run":
        info = await orch.jobs.run_now(name)
    elif action == "pause":
        info = orch.jobs.pause(name)
    else:
        info = orch.jobs.resume(name)
    return _json({"job": info.as_dict(), "action": action})


def add_routes(app: web.Application) -> None:
    """Add the admin routes (named ``admin:*``: the middleware checks the admin token)."""
    router = app.router
    router.add_get("/v1/admin/stats", stats, name="admin:stats")
    router.add_delete("/v1/admin/cache", invalidate_all, name="admin:cache-all")
    router.add_delete("/v1/admin/cache/{dataset}", invalidate, name="admin:cache")
    router.add_post("/v1/admin/prefetch", prefetch, name="admin:prefetch")
    router.add_post("/v1/admin/providers/{name}/rank", rank, name="admin:rank")
    router.add_get("/v1/admin/jobs", jobs, name="admin:jobs")
    router.add_post(
        "/v1/admin/jobs/{name}/{action:run|pause|resume}", job_control, name="admin:job-control"
    )
    router.add_post(
        "/v1/admin/providers/{name}/{action:disable|enable|reset}", control, name="admin:control"
    )
