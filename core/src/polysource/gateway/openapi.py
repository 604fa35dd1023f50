"""``/openapi.json``: an OpenAPI 3.1 document generated from the registries.

Each dataset gets its own paths with its schema as the response's ``data``; each operation its
own path with its parameter class as the request body and its result class as the answer.
JSON Schemas are derived from the attrs classes' field types.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs
from aiohttp import web

from polysource.config import Secret
from polysource.gateway import render
from polysource.gateway.app import GATEWAY
from polysource.models import Dataset, Operation
from polysource.registry import Registry

__all__ = ["add_routes", "document"]

_PROBLEM: Final = {"$ref": "#/components/schemas/Problem"}
_PRIMITIVES: Final[dict[Any, dict[str, Any]]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    Decimal: {"type": "string", "format": "decimal"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
    type(None): {"type": "null"},
}

_JOB_ACTIONS: Final = ("run", "pause", "resume")


class _Schemas:
    """JSON Schemas of attrs classes, collected as components (``$ref`` by class name)."""

    def __init__(self, *, secret: dict[str, Any]) -> None:
        self.components: dict[str, Any] = {}
        self._secret = secret

    def of(self, tp: Any) -> dict[str, Any]:
        if tp in _PRIMITIVES:
            return dict(_PRIMITIVES[tp])
        if tp is Secret:
            return dict(self._secret)
        if tp is Any or tp is object:
            return {}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in {typing.Union, types.UnionType}:
            choices: list[dict[str, Any]] = []
            for arg in args:
                schema = self.of(arg)
                if schema not in choices:
                    choices.append(schema)
            return choices[0] if len(choices) == 1 else {"anyOf": choices}
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin in {tuple, list, Sequence, frozenset, set} or tp in {tuple, list}:
            return {"type": "array", "items": self.of(args[0]) if args else {}}
        if origin in {dict, Mapping} or tp is dict:
            value = args[1] if len(args) == 2 else Any
            return {"type": "object", "additionalProperties": self.of(value)}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"enum": [m.value for m in tp]}
        if isinstance(tp, type) and attrs.has(tp):
            return self._attrs(tp)
        return {}

    def _attrs(self, cls: type) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.components:
            self.components[name] = {}  # a placeholder breaks recursion
            hints = typing.get_type_hints(cls)
            properties = {}
            required = []
            for field in attrs.fields(cls):
                if not field.init:
                    continue
                key = field.alias or field.name
                properties[key] = self.of(hints.get(field.name, Any))
                if field.default is attrs.NOTHING:
                    required.append(key)
            schema: dict[str, Any] = {"type": "object", "properties": properties}
            if required:
                schema["required"] = required
            if cls.__doc__:
                schema["description"] = cls.__doc__.strip().splitlines()[0]
            self.components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {
            "description": "A problem (RFC 9457).",
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
        for s in statuses
    }


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_KEY: Final = {
    "name": "key",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
}
_REGION: Final = _query("region", {"type": "string"}, "Routing region.")
_TIER: Final = _query("tier", {"enum": ["free", "basic", "premium"]}, "Caller tier.")
_DEADLINE: Final = _query(
    "deadline", {"type": "number", "exclusiveMinimum": 0}, "Seconds the request may take."
)
_ERRORS: Final = {"type": "array", "items": {"$ref": "#/components/schemas/ProviderFailure"}}


def _dataset_paths(ds: Dataset[Any], schemas: _Schemas) -> dict[str, Any]:
    data = schemas.of(ds.schema)
    security: list[dict[str, list[str]]] = [{"apiKey": []}] if ds.private else [{}, {"apiKey": []}]
    fetch_params = [_KEY, _REGION, _TIER, _DEADLINE]
    if not ds.is_composite:
        fetch_params += [
            _query("max_age", {"type": "number", "minimum": 0}, "Oldest cached value taken."),
            _query("allow_stale", {"type": "boolean"}, "Serve stale when providers fail."),
            _query("force_refresh", {"type": "boolean"}, "Ask the providers even if cached."),
        ]
    value = {
        "type": "object",
        "properties": {
            "data": data,
            "source": {"type": "string"},
            "stale": {"type": "boolean"},
            "errors": _ERRORS,
        },
        "required": ["data", "source", "stale", "errors"],
    }
    paths: dict[str, Any] = {
        f"/v1/{ds.name}/{{key}}": {
            "get": {
                "operationId": f"fetch_{ds.name}",
                "summary": ds.description or f"Fetch one {ds.name} value.",
                "parameters": fetch_params,
                "security": security,
                "responses": {
                    "200": _ok(value if not ds.is_composite else {"type": "object"}),
                    "304": {"description": "Not modified (If-None-Match)."},
                    **_problems(400, 401, 403, 404, 429, 502, 503, 504),
                },
            }
        }
    }
    if ds.is_composite:
        return paths
    batch_item = {
        "type": "object",
        "properties": {
            "data": data,
            "source": {"type": "string"},
            "cached": {"type": "boolean"},
            "stale": {"type": "boolean"},
            "age": {"type": "number"},
        },
    }
    paths[f"/v1/{ds.name}/batch"] = {
        "post": {
            "operationId": f"fetch_many_{ds.name}",
            "summary": f"Fetch many {ds.name} values.",
            "parameters": [
                _REGION,
                _TIER,
                _DEADLINE,
                _query("allow_stale", {"type": "boolean"}, "Serve stale keys."),
            ],
            "security": security,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "keys": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"type": "string", "minLength": 1},
                                }
                            },
                            "required": ["keys"],
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                "200": _ok(
                    {
                        "type": "object",
                        "properties": {
                            "results": {"type": "object", "additionalProperties": batch_item},
                            "errors": {"type": "object", "additionalProperties": _PROBLEM},
                            "summary": {"type": "object"},
                        },
                    }
                ),
                **_problems(400, 401, 403, 404, 413, 415, 429, 504),
            },
        }
    }
    paths[f"/v1/{ds.name}/merged/{{key}}"] = {
        "post": {
            "operationId": f"fetch_merged_{ds.name}",
            "summary": f"One {ds.name} value merged from several providers.",
            "parameters": [_KEY, _REGION, _TIER, _DEADLINE],
            "security": security,
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "strategy": {"type": "string"},
                                "min_providers": {"type": "integer", "minimum": 1},
                                "providers": {"type": "array", "items": {"type": "string"}},
                                "field_priority": {
                                    "type": "object",
                                    "additionalProperties": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                    },
                                },
                                "tolerance": {"type": "number", "minimum": 0},
                            },
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                "200": _ok(
                    {
                        "type": "object",
                        "properties": {
                            "data": data,
                            "sources": {"type": "array", "items": {"type": "string"}},
                            "strategy": {"type": "string"},
                            "provenance": {"type": "object"},
                            "conflicts": {"type": "object"},
                            "excluded": {"type": "object"},
                            "attempts": {"type": "integer"},
                            "errors": _ERRORS,
                        },
                    }
                ),
                **_problems(400, 401, 403, 404, 413, 415, 429, 502, 503, 504),
            },
        }
    }
    return paths


def _operation_path(op: Operation[Any, Any], params: _Schemas, results: _Schemas) -> Any:
    return {
        "post": {
            "operationId": f"execute_{op.name}",
            "summary": op.description or f"Run {op.name}.",
            "parameters": [
                _REGION,
                _TIER,
                _DEADLINE,
                _query("prefer", {"type": "string"}, "A provider to try first."),
            ],
            "security": [{"apiKey": []}],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": params.of(op.params)}},
            },
            "responses": {
                "200": _ok(
                    {
                        "type": "object",
                        "properties": {
                            "data": results.of(op.result),
                            "provider": {"type": "string"},
                            "failover_used": {"type": "boolean"},
                            "attempts": {"type": "integer"},
                            "errors": _ERRORS,
                        },
                    }
                ),
                **_problems(400, 401, 403, 404, 413, 415, 429, 502, 503, 504),
            },
        }
    }


def _fixed_paths() -> dict[str, Any]:
    plain = {"200": _ok({"type": "object"})}
    admin: dict[str, Any] = {"security": [{"adminToken": []}]}
    admin_problems = _problems(400, 401, 404)
    return {
        "/v1/datasets": {
            "get": {
                "operationId": "list_datasets",
                "summary": "The datasets.",
                "responses": {"200": _ok({"type": "array"})},
            }
        },
        "/v1/providers": {
            "get": {
                "operationId": "list_providers",
                "summary": "The providers.",
                "responses": {"200": _ok({"type": "array"})},
            }
        },
        "/health/live": {"get": {"operationId": "live", "responses": plain}},
        "/health/ready": {
            "get": {
                "operationId": "ready",
                "responses": {**plain, "503": _ok({"type": "object"}, "Not ready.")},
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "responses": {**plain, "503": _ok({"type": "object"}, "Every provider is down.")},
            }
        },
        "/stats": {"get": {"operationId": "stats", "responses": plain}},
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "responses": {"200": {"description": "Prometheus metrics."}, **_problems(404)},
            }
        },
        "/v1/admin/stats": {
            "get": {"operationId": "admin_stats", **admin, "responses": {**plain, **admin_problems}}
        },
        "/v1/admin/cache": {
            "delete": {
                "operationId": "admin_invalidate_all",
                **admin,
                "responses": {**plain, **admin_problems},
            }
        },
        "/v1/admin/cache/{dataset}": {
            "delete": {
                "operationId": "admin_invalidate",
                **admin,
                "parameters": [
                    {
                        "name": "dataset",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "key",
                        "in": "query",
                        "required": False,
                        "style": "form",
                        "explode": True,
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    _query("pattern", {"type": "string"}, "A glob over normalised keys."),
                    _REGION,
                    _query("tenant", {"type": "string"}, "The tenant, for a private dataset."),
                ],
                "responses": {**plain, **admin_problems},
            }
        },
        "/v1/admin/prefetch": {
            "post": {
                "operationId": "admin_prefetch",
                **admin,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {**plain, **admin_problems},
            }
        },
        "/v1/admin/jobs": {
            "get": {"operationId": "admin_jobs", **admin, "responses": {**plain, **admin_problems}}
        },
        "/v1/admin/jobs/{name}/{action}": {
            "post": {
                "operationId": "admin_job_control",
                **admin,
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": list(_JOB_ACTIONS)},
                    },
                ],
                "responses": {**plain, **admin_problems},
            }
        },
        "/v1/admin/providers/{name}/{action}": {
            "post": {
                "operationId": "admin_provider_control",
                **admin,
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": ["disable", "enable", "reset", "rank"]},
                    },
                ],
                "responses": {**plain, **admin_problems},
            }
        },
    }


def document(registry: Registry, *, title: str = "polysource gateway") -> dict[str, Any]:
    """The OpenAPI 3.1 document of a gateway over ``registry``."""
    results = _Schemas(secret={"type": "null"})
    params = _Schemas(secret={"type": "string"})
    paths = _fixed_paths()
    for _, ds in sorted(registry.datasets.items()):
        paths.update(_dataset_paths(ds, results))
    for _, op in sorted(registry.operations.items()):
        paths[f"/v1/operations/{op.name}"] = _operation_path(op, params, results)
    # Parameter classes are named apart from result classes: a Secret differs between them.
    components = dict(results.components)
    for name, schema in params.components.items():
        components.setdefault(name, schema)
    components["Problem"] = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "category": {"type": "string"},
            "retryable": {"type": "boolean"},
            "errors": _ERRORS,
        },
        "required": ["type", "title", "status", "detail"],
    }
    components["ProviderFailure"] = {
        "type": "object",
        "properties": {
            "provider": {"type": "string"},
            "category": {"type": "string"},
            "retryable": {"type": "boolean"},
            "status": {"type": ["integer", "null"]},
            "message": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from [gateway.api_keys].",
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The [gateway] admin_token.",
                },
            },
        },
    }


async def openapi(request: web.Request) -> web.StreamResponse:
    """``GET /openapi.json``: the document, built once per app."""
    gw = request.app[GATEWAY]
    if gw.openapi is None:
        gw.openapi = render.dumps(document(gw.orch.registry))
    return web.Response(body=gw.openapi, content_type="application/json")


def add_routes(app: web.Application) -> None:
    """Add ``/openapi.json``."""
    app.router.add_get("/openapi.json", openapi, name="meta:openapi")
