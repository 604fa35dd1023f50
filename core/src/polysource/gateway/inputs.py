"""Reading a request's input: query options, JSON bodies and keys, each checked before any
provider is asked (a bad value is a 400 problem naming it)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import orjson
from aiohttp import web

from polysource.gateway.problems import Problem

__all__ = ["check_key", "json_body", "query"]

_BOOLEANS: Final = {"true": True, "1": True, "false": False, "0": False}
_SHOWN: Final = 40


def _quote(value: str) -> str:
    """A short, escaped prefix of a bad value, for a message."""
    shown = value[:_SHOWN].encode("unicode_escape").decode("ascii")
    return repr(shown + ("..." if len(value) > _SHOWN else ""))


def _bad(detail: str) -> Problem:
    return Problem(400, "invalid-request", detail, category="invalid_request")


def _number(name: str, raw: str, *, positive: bool) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _bad(f"query parameter {name!r} must be a number, got {_quote(raw)}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise _bad(f"query parameter {name!r} must be {'>' if positive else '>='} 0")
    return value


def query(request: web.Request, allowed: Mapping[str, str]) -> dict[str, Any]:
    """The request's query options, by kind (``str``, ``bool``, ``age``: >= 0, ``seconds``:
    > 0); a parameter not in ``allowed``, repeated or malformed is a 400 problem."""
    out: dict[str, Any] = {}
    for name, raw in request.query.items():
        kind = allowed.get(name)
        if kind is None:
            if name == "tenant":
                raise _bad("the tenant comes from the API key, never from the query")
            known = ", ".join(sorted(allowed)) or "(none)"
            raise _bad(f"unknown query parameter {_quote(name)}; parameters: {known}")
        if name in out:
            raise _bad(f"query parameter {name!r} is given twice")
        if kind == "bool":
            flag = _BOOLEANS.get(raw.lower())
            if flag is None:
                raise _bad(f"query parameter {name!r} must be true or false, got {_quote(raw)}")
            out[name] = flag
        elif kind in {"age", "seconds"}:
            out[name] = _number(name, raw, positive=kind == "seconds")
        else:
            if not raw or len(raw) > 64 or not raw.isprintable():
                raise _bad(f"query parameter {name!r} has a bad value {_quote(raw)}")
            out[name] = raw
    return out


def check_key(key: str, limit: int) -> str:
    """``key`` if it is printable, not blank and at most ``limit`` characters long."""
    if not key.strip() or len(key) > limit or not key.isprintable():
        raise _bad(f"key {_quote(key)} must be 1 to {limit} printable characters, not only spaces")
    return key


async def json_body(request: web.Request, *, required: bool = True) -> Any:
    """The request's JSON body (``None`` when absent and not ``required``).

    Raises:
        Problem: 415 for another content type, 400 for a body that is not JSON, 413 (from
            aiohttp) for one over the size limit.
    """
    raw = await request.read()
    if not raw:
        if required:
            raise _bad("a JSON body is required")
        return None
    if request.content_type != "application/json":
        raise Problem(
            415,
            "unsupported-media-type",
            "send the body as application/json",
            category="invalid_request",
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _bad("the body is not valid JSON") from None
