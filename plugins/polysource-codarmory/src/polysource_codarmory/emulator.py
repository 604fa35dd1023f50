"""A local emulator of CODArmory's data files as GitHub's raw host serves them, with faults.

It answers ``GET /{owner}/{repo}/{branch}/src/database/{file}.json`` for
``tzurbaev/codarmory.com@main`` (configurable) with the six files of the real repository:
``weapons.json``, ``attachments.json``, ``categories.json``, ``platforms.json``,
``attachment-categories.json`` and ``attachment-stats.json``. Like the raw host, it sends
``Content-Type: text/plain; charset=utf-8``, an ``ETag`` per file, answers ``304 Not
Modified`` to a matching ``If-None-Match``, and ``404: Not Found`` (plain text) for any other
path. Injected rate limits are 429s; a 403 throttle is ``Faults(error_rate=...,
error_status=403)``.

The catalogue ([`polysource_codarmory.catalogue`][polysource_codarmory.catalogue]) lists real
slugs, names, games,
categories and platforms of MW2, MW3 and BO6 weapons; levels, unlocks and attachments are
generated from ``Faults.seed`` (the same seed gives the same files).

Control endpoints, beside those of [`polysource.emulation`][polysource.emulation]:

- ``GET /_emulator/data``: each file's ``ETag`` and size, and the 304s answered per file.
- ``POST /_emulator/data`` with one of ``{"file": F, "content": JSON}`` (replace or create a
  file, any shape), ``{"file": F, "update": {ID: {FIELD: VALUE}}}`` (change fields of the
  elements with those ids), ``{"file": F, "delete": true}`` or ``{"reset": true}``. Each change
  gives the file a new ``ETag``. In code: ``app[DATA].update(...)`` and friends.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson
from aiohttp import web
from attrs import define, field, frozen

from polysource.emulation import CONTROL_PREFIX, Faults, emulator_app, json_response
from polysource_codarmory.catalogue import (
    ATTACHMENT_CATEGORIES,
    CATEGORIES,
    FILES,
    PLATFORMS,
    WEAPONS,
    Weapon,
    generate_files,
)

__all__ = [
    "ATTACHMENT_CATEGORIES",
    "CATEGORIES",
    "DATA",
    "FILES",
    "PLATFORMS",
    "WEAPONS",
    "EmulatorData",
    "Weapon",
    "create_app",
    "error_body",
    "etag_of",
    "generate_files",
]


# -- served files --------------------------------------------------------------------------------


def etag_of(body: bytes) -> str:
    """The strong ``ETag`` of a body: its SHA-256, quoted."""
    return f'"{hashlib.sha256(body).hexdigest()}"'


@frozen
class _File:
    body: bytes
    etag: str

    @classmethod
    def of(cls, content: Any) -> _File:
        body = orjson.dumps(content)
        return cls(body, etag_of(body))


@define
class EmulatorData:
    """The files being served, changeable at runtime, and the 304s answered per file.

    Args:
        seed: Seed of the generated content (`reset()` restores it).
    """

    seed: int
    files: dict[str, _File] = field(init=False)
    not_modified: Counter[str] = field(factory=Counter, init=False)

    def __attrs_post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Serve the generated files again (their original ``ETag``s come back)."""
        self.files = {
            name: _File.of(content) for name, content in generate_files(self.seed).items()
        }

    def etag(self, name: str) -> str | None:
        """The ``ETag`` of ``name``, or ``None`` when it is not served."""
        served = self.files.get(name)
        return served.etag if served else None

    def content(self, name: str) -> Any:
        """A decoded copy of ``name``'s content.

        Raises:
            KeyError: ``name`` is not served.
        """
        return orjson.loads(self.files[name].body)

    def replace(self, name: str, content: Any) -> str:
        """Serve ``content`` (any JSON, any shape) as ``name``; return its new ``ETag``."""
        self.files[name] = _File.of(content)
        return self.files[name].etag

    def update(self, name: str, changes: Mapping[str, Mapping[str, Any]]) -> str:
        """Change fields of the elements of ``name`` whose ``id`` is a key of ``changes``.

        Raises:
            KeyError: ``name`` is not served, or an id matches no element.
        """
        content = self.content(name)
        by_id = {item.get("id"): item for item in content if isinstance(item, dict)}
        for id_, fields in changes.items():
            if id_ not in by_id:
                raise KeyError(f"{name} has no element with id {id_!r}")
            by_id[id_].update(fields)
        return self.replace(name, content)

    def delete(self, name: str) -> None:
        """Stop serving ``name`` (it answers 404, as a moved or renamed file does)."""
        self.files.pop(name, None)

    def listing(self) -> dict[str, Any]:
        """Each file's ``ETag`` and size, and the 304s answered, as a JSON-ready dict."""
        return {
            "files": {n: {"etag": f.etag, "size": len(f.body)} for n, f in self.files.items()},
            "not_modified": dict(self.not_modified),
        }


DATA: Final = web.AppKey("codarmory_emulator_data", EmulatorData)
"""Where the app keeps its [`EmulatorData`][polysource_codarmory.emulator.EmulatorData]."""


@frozen
class _Location:
    prefix: str


_LOCATION: Final = web.AppKey("codarmory_emulator_location", _Location)
_GITHUB_HEADERS: Final = {
    "Cache-Control": "max-age=300",
    "Access-Control-Allow-Origin": "*",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "Vary": "Authorization,Accept-Encoding,Origin",
}


def error_body(status: int, message: str) -> tuple[str, bytes]:
    """The raw host's plain-text error bodies (``"404: Not Found"``)."""
    return "text/plain", f"{status}: {message}".encode()


def _not_found() -> web.Response:
    content_type, body = error_body(404, "Not Found")
    return web.Response(status=404, body=body, content_type=content_type)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` uses the weak comparison: ``W/"x"`` matches ``"x"``."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        value = candidate.strip()
        if value == "*" or value.removeprefix("W/") == wanted:
            return True
    return False


def _file_name(request: web.Request) -> str | None:
    prefix = request.app[_LOCATION].prefix
    return request.path[len(prefix) :] if request.path.startswith(prefix) else None


def _served(request: web.Request) -> bytes | None:
    """The stored body of the file ``request`` asks for, if it is served."""
    name = _file_name(request)
    served = request.app[DATA].files.get(name) if name else None
    return served.body if served else None


async def _raw(request: web.Request) -> web.Response:
    data = request.app[DATA]
    name = _file_name(request)
    served = data.files.get(name) if name else None
    if name is None or served is None:
        return _not_found()
    if _matches(request.headers.get("If-None-Match"), served.etag):
        data.not_modified[name] += 1
        return web.Response(status=304, headers={"ETag": served.etag})
    return web.Response(
        body=served.body, content_type="application/json", headers={"ETag": served.etag}
    )


@web.middleware
async def _raw_host_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Outermost: plain-text content type and GitHub's headers; an ``ETag`` naming the bytes
    actually sent (a body damaged by a fault gets its own)."""
    response = await handler(request)
    if request.path.startswith(CONTROL_PREFIX) or not isinstance(response, web.Response):
        return response
    body = response.body
    if response.status == 200 and isinstance(body, bytes) and body is not _served(request):
        response.headers["ETag"] = etag_of(body)
    if response.status != 304:
        response.content_type = "text/plain"
        response.charset = "utf-8"
    response.headers.update(_GITHUB_HEADERS)
    return response


async def _get_data(request: web.Request) -> web.Response:
    return json_response(request.app[DATA].listing())


async def _post_data(request: web.Request) -> web.Response:
    data = request.app[DATA]
    try:
        change = orjson.loads(await request.read())
        _apply(data, change)
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response(data.listing())


def _apply(data: EmulatorData, change: Any) -> None:
    if not isinstance(change, dict):
        raise TypeError("a JSON object is expected")
    if change.get("reset"):
        data.reset()
        return
    name = change.get("file")
    if not isinstance(name, str) or not name:
        raise ValueError("'file' (a file name) is required unless 'reset' is true")
    if change.get("delete"):
        data.delete(name)
    elif "content" in change:
        data.replace(name, change["content"])
    elif isinstance(change.get("update"), dict):
        data.update(name, change["update"])
    else:
        raise ValueError("one of 'content', 'update' or 'delete' is required")


def _corrupt(payload: Any, rng: Any) -> Any:
    """Wrong values, right shape: names shuffled between elements, levels negative."""
    if not isinstance(payload, list):
        return payload
    items = [dict(item) if isinstance(item, dict) else item for item in payload]
    named = [item for item in items if isinstance(item, dict) and "name" in item]
    names = [item["name"] for item in named]
    rng.shuffle(names)
    for item, name in zip(named, names, strict=True):
        item["name"] = name
        if isinstance(item.get("max_level"), int):
            item["max_level"] = -item["max_level"]
    return items


def create_app(
    faults: Faults | None = None,
    *,
    owner: str = "tzurbaev",
    repo: str = "codarmory.com",
    branch: str = "main",
    directory: str = "src/database",
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> web.Application:
    """The CODArmory raw-file emulator application.

    Args:
        faults: Faults to inject; ``faults.seed`` also seeds the generated files.
        owner: The repository owner served.
        repo: The repository served.
        branch: The branch served.
        directory: The folder of the JSON files.
        sleep: Waits out injected latency (tests replace it).
    """
    faults = faults or Faults()
    app = emulator_app(faults, error_body=error_body, corrupt=_corrupt, sleep=sleep)
    app.middlewares.insert(0, _raw_host_headers)
    app[DATA] = EmulatorData(faults.seed)
    parts = (owner, repo, branch, directory.strip("/"))
    app[_LOCATION] = _Location("/" + "/".join(p for p in parts if p) + "/")
    app.router.add_get(CONTROL_PREFIX + "data", _get_data)
    app.router.add_post(CONTROL_PREFIX + "data", _post_data)
    app.router.add_get("/{path:.*}", _raw)
    return app
