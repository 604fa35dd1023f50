"""The data routes: keyed reads, batches, merged reads, operations, and the registries."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from polysource.errors import UnknownOperation
from polysource.gateway import render
from polysource.gateway.app import CLIENT, GATEWAY, Gateway
from polysource.gateway.caching import cache_headers, etag_matches, represent
from polysource.gateway.inputs import check_key, json_body, query
from polysource.gateway.problems import Problem, from_exception
from polysource.models import BatchResult, CompositeResult, Dataset, MergedResult, OperationResult

__all__ = ["FETCH_QUERY", "add_routes"]

FETCH_QUERY: Final = {
    "region": "str",
    "tier": "str",
    "max_age": "age",
    "allow_stale": "bool",
    "force_refresh": "bool",
    "deadline": "seconds",
}
BATCH_QUERY: Final = {"region": "str", "tier": "str", "allow_stale": "bool", "deadline": "seconds"}
MERGED_QUERY: Final = {"region": "str", "tier": "str", "deadline": "seconds"}
OPERATION_QUERY: Final = {"region": "str", "tier": "str", "prefer": "str", "deadline": "seconds"}
_MERGE_OPTIONS: Final = {
    "strategy": str,
    "min_providers": int,
    "providers": list,
    "field_priority": dict,
    "tolerance": float,
}
_JSON: Final = "application/json"


def _bad(detail: str) -> Problem:
    return Problem(400, "invalid-request", detail, category="invalid_request")


def _read_target(request: web.Request) -> tuple[Gateway, Dataset[Any]]:
    gw = request.app[GATEWAY]
    return gw, gw.dataset(request.match_info["dataset"])


async def fetch(request: web.Request) -> web.StreamResponse:
    """``GET /v1/{dataset}/{key}``: one value, with HTTP caching headers."""
    gw, ds = _read_target(request)
    key = check_key(request.match_info["key"], gw.config.max_key_length)
    options = query(request, FETCH_QUERY) if request.query else {}
    client = request[CLIENT]
    tenant = gw.tenant(client, ds.private, f"dataset {ds.name!r}")
    region = options.pop("region", None)
    tier = options.pop("tier", None) or client.tier
    if "deadline" in options:
        options["deadline"] = gw.deadline(options["deadline"])
    if gw.quotas.active:
        await gw.quotas.charge(client, ds.name)
    if ds.is_composite:
        return await _composite(gw, ds, key, region, tier, tenant, options)
    result = await gw.orch.fetch(ds.name, key, region=region, tier=tier, tenant=tenant, **options)
    if result.errors:
        gw.note(ds.name, key, result)
    representation = represent(result, render.result_body)
    headers = cache_headers(ds, tier or gw.orch.config.tier, result)
    headers["ETag"] = representation.etag
    if etag_matches(request.headers.get("If-None-Match"), representation.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=representation.body, content_type=_JSON, headers=headers)


async def _composite(
    gw: Gateway,
    ds: Dataset[Any],
    key: str,
    region: str | None,
    tier: str | None,
    tenant: str | None,
    options: dict[str, Any],
) -> web.Response:
    unknown = set(options) - {"deadline"}
    if unknown:
        raise _bad(f"dataset {ds.name!r} is composite: {', '.join(sorted(unknown))} not taken")
    composite: CompositeResult[Any] = await gw.orch.fetch_composite(
        ds.name, key, region=region, tier=tier, tenant=tenant, **options
    )
    body = {
        "data": render.converter.unstructure(composite.data),
        "parts": {
            part: {"source": r.source, "cached": r.cached, "stale": r.stale}
            for part, r in composite.results.items()
        },
        "errors": {
            part: from_exception(error).document(gw.redact, "")
            for part, error in composite.errors.items()
        },
    }
    return web.Response(
        body=render.dumps(body), content_type=_JSON, headers={"Cache-Control": "no-store"}
    )


async def batch(request: web.Request) -> web.StreamResponse:
    """``POST /v1/{dataset}/batch`` with ``{"keys": [...]}``: many values, per-key errors."""
    gw, ds = _read_target(request)
    options = query(request, BATCH_QUERY)
    body = await json_body(request)
    if not isinstance(body, dict) or set(body) != {"keys"}:
        raise _bad('the body must be {"keys": [...]}')
    keys = body["keys"]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise _bad('"keys" must be a non-empty list of strings')
    if len(keys) > gw.config.max_batch:
        raise _bad(f"a batch takes at most {gw.config.max_batch} keys, got {len(keys)}")
    limit = gw.config.max_key_length
    for key in keys:
        check_key(key, limit)
    client = request[CLIENT]
    tenant = gw.tenant(client, ds.private, f"dataset {ds.name!r}")
    if ds.is_composite:
        raise _bad(f"dataset {ds.name!r} is composite: read its keys one at a time")
    if "deadline" in options:
        options["deadline"] = gw.deadline(options["deadline"])
    if gw.quotas.active:
        await gw.quotas.charge(client, ds.name, len(keys))
    result: BatchResult[Any] = await gw.orch.fetch_many(
        ds.name,
        keys,
        region=options.pop("region", None),
        tier=options.pop("tier", None) or client.tier,
        tenant=tenant,
        **options,
    )

    for name, value in result.results.items():
        if value.errors:
            gw.note(ds.name, name, value)
    for name, error in result.errors.items():
        gw.note(ds.name, name, error)

    def problem(error: Exception) -> dict[str, Any]:
        return from_exception(error).document(gw.redact, request.path)

    return web.Response(
        body=render.batch_body(result, problem),
        content_type=_JSON,
        headers={"Cache-Control": "no-store"},
    )


def _merge_options(body: object) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object of merge options")
    out: dict[str, Any] = {}
    for name, given in body.items():
        kind = _MERGE_OPTIONS.get(name)
        if kind is None:
            known = ", ".join(sorted(_MERGE_OPTIONS))
            raise _bad(f"unknown merge option {str(name)[:40]!r}; options: {known}")
        value = given
        if kind is float and isinstance(given, int) and not isinstance(given, bool):
            value = float(given)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _bad(f"merge option {name!r} must be {kind.__name__}")
        out[name] = value
    return out


async def merged(request: web.Request) -> web.StreamResponse:
    """``POST /v1/{dataset}/merged/{key}``: one value merged from several providers."""
    gw, ds = _read_target(request)
    key = check_key(request.match_info["key"], gw.config.max_key_length)
    options = query(request, MERGED_QUERY)
    merge = _merge_options(await json_body(request, required=False))
    client = request[CLIENT]
    tenant = gw.tenant(client, ds.private, f"dataset {ds.name!r}")
    if gw.quotas.active:
        await gw.quotas.charge(client, ds.name)
    result: MergedResult[Any] = await gw.orch.fetch_merged(
        ds.name,
        key,
        region=options.get("region"),
        tier=options.get("tier") or client.tier,
        tenant=tenant,
        deadline=gw.deadline(options.get("deadline")),
        **merge,
    )
    return web.Response(
        body=render.merged_body(result), content_type=_JSON, headers={"Cache-Control": "no-store"}
    )


async def operation(request: web.Request) -> web.StreamResponse:
    """``POST /v1/operations/{name}``: run an operation as the API key's tenant."""
    gw = request.app[GATEWAY]
    name = request.match_info["name"]
    op = gw.orch.registry.operations.get(name)
    if op is None:
        raise from_exception(UnknownOperation(name, list(gw.orch.registry.operations)))
    options = query(request, OPERATION_QUERY)
    client = request[CLIENT]
    tenant = gw.tenant(client, True, f"operation {name!r}")
    params = render.params(op, await json_body(request, required=False))
    if gw.quotas.active:
        await gw.quotas.charge(client, op.name)
    result: OperationResult[Any] = await gw.orch.execute(
        op.name,
        params,
        region=options.get("region"),
        tier=options.get("tier") or client.tier,
        tenant=tenant,
        prefer=options.get("prefer"),
        deadline=gw.deadline(options.get("deadline")),
    )
    return web.Response(
        body=render.operation_body(result),
        content_type=_JSON,
        headers={"Cache-Control": "no-store"},
    )


async def datasets(request: web.Request) -> web.StreamResponse:
    """``GET /v1/datasets``: every dataset with its schema and cache policy."""
    gw = request.app[GATEWAY]
    listing = [
        {
            "name": ds.name,
            "description": ds.description,
            "schema": ds.schema.__name__,
            "private": ds.private,
            "composite": ds.is_composite,
            "cacheable": ds.policy.cacheable,
            "ttl": dict(ds.policy.ttl),
            "stale": ds.policy.stale,
            "merge": ds.merge,
        }
        for _, ds in sorted(gw.orch.registry.datasets.items())
    ]
    return web.Response(body=render.dumps(listing), content_type=_JSON)


async def providers(request: web.Request) -> web.StreamResponse:
    """``GET /v1/providers``: every provider with what it serves and where."""
    gw = request.app[GATEWAY]
    listing = [
        {
            "name": name,
            "plugin": entry.plugin,
            "description": entry.info.description,
            "datasets": sorted(entry.info.datasets),
            "operations": sorted(entry.info.operations),
            "regions": dict(entry.info.regions),
            "max_batch_size": entry.info.max_batch_size,
        }
        for name, entry in sorted(gw.orch.registry.providers.items())
    ]
    return web.Response(body=render.dumps(listing), content_type=_JSON)


def add_routes(app: web.Application) -> None:
    """Add the data routes (named ``data:*``: authenticated and limited per client)."""
    app.router.add_get("/v1/datasets", datasets, name="data:datasets")
    app.router.add_get("/v1/providers", providers, name="data:providers")
    app.router.add_post("/v1/operations/{name}", operation, name="data:operation")
    app.router.add_post("/v1/{dataset}/batch", batch, name="data:batch")
    app.router.add_post("/v1/{dataset}/merged/{key}", merged, name="data:merged")
    app.router.add_get("/v1/{dataset}/{key}", fetch, name="data:fetch")
