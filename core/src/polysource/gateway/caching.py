"""HTTP caching semantics of a fetched value: ``Cache-Control``, ``Age``, ``ETag``, 304 and
RFC 9211 ``Cache-Status``.

``max-age`` is what is left of the value's freshness for the caller's tier (the dataset's TTL
minus the value's age); a private dataset is ``private``, one that is not cacheable
``no-store``. The ``ETag`` is strong: a digest of the body's bytes, which hold only what
belongs to the value. ``Cache-Status`` names the layer that answered (``detail``), a negative
``ttl`` when the value is stale, and ``collapsed`` when the request joined another in flight.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from typing import Any, Final

from attrs import frozen

from polysource.models import Dataset, Result

__all__ = ["Representation", "cache_headers", "etag_matches", "represent"]

CACHE_NAME: Final = "polysource"


@frozen
class Representation:
    """The encoded body of one result and its strong ``ETag``."""

    body: bytes
    etag: str


# A cache hit hands back the same Result object: its bytes are encoded and hashed once.
_encoded: weakref.WeakKeyDictionary[Result[Any], Representation] = weakref.WeakKeyDictionary()


def represent(result: Result[Any], encode: Any) -> Representation:
    """The body (``encode(result)``) and ``ETag`` of ``result``, computed once per result."""
    found = _encoded.get(result)
    if found is None:
        body = encode(result)
        found = Representation(body, f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"')
        _encoded[result] = found
    return found


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (weak comparison, as RFC 9110
    asks for this header)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        tag = tag.removeprefix("W/")
        if tag == etag:
            return True
    return False


def cache_headers(ds: Dataset[Any], tier: str, result: Result[Any]) -> dict[str, str]:
    """``Cache-Control``, ``Age`` and ``Cache-Status`` for ``result`` of ``ds`` at ``tier``."""
    age = result.age
    policy = ds.policy
    left = policy.ttl.get(tier, 0.0) - age
    if not policy.cacheable:
        control = "no-store"
    else:
        scope = "private" if ds.private else "public"
        max_age = 0 if result.stale else max(0, math.floor(left))
        control = f"{scope}, max-age={max_age}"
        if policy.stale > 0:
            control += f", stale-if-error={math.floor(policy.stale)}"
    return {
        "Cache-Control": control,
        "Age": str(math.floor(age)),
        "Cache-Status": _cache_status(result, left, stored=policy.cacheable),
    }


def _cache_status(result: Result[Any], left: float, *, stored: bool) -> str:
    ttl = math.floor(left)
    if result.cached:
        status = f"{CACHE_NAME}; hit; ttl={ttl}"
        if result.tier:
            status += f'; detail="{result.tier}{" stale" if result.stale else ""}"'
        return status
    if result.stale:
        # Every provider failed: the stale value came from a cache layer all the same.
        return f'{CACHE_NAME}; hit; ttl={ttl}; detail="{result.tier or "cache"} stale"'
    status = f"{CACHE_NAME}; fwd=miss; stored; ttl={ttl}" if stored else f"{CACHE_NAME}; fwd=miss"
    if result.deduplicated:
        status += "; collapsed"
    return status
