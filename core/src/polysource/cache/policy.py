"""Pure freshness rules: given an entry's times and the request, is it fresh, stale or gone?

No I/O and no clock reads here: the caller passes ``now``.
"""

from __future__ import annotations

import enum

__all__ = ["Freshness", "ages", "classify"]


class Freshness(enum.Enum):
    """What an entry is worth to a request."""

    FRESH = "fresh"
    STALE = "stale"
    EXPIRED = "expired"


def classify(
    now: float,
    stored_at: float,
    ttl: float,
    stale: float,
    max_age: float | None = None,
) -> Freshness:
    """Classify an entry stored at ``stored_at`` with ``ttl`` and a ``stale`` window.

    ``max_age`` (from the caller) narrows freshness: an entry older than it is not fresh for
    this request, though it may still serve as stale.
    """
    age = now - stored_at
    fresh_for = ttl if max_age is None else min(ttl, max_age)
    if age < fresh_for:
        return Freshness.FRESH
    if age < ttl + stale:
        return Freshness.STALE
    return Freshness.EXPIRED


def ages(ttl: float, stale: float, max_age: float | None = None) -> tuple[float, float]:
    """The rules of [`classify()`][polysource.cache.policy.classify] as two ages, for a loop over
    entries of one policy.

    An entry of age ``a`` is fresh if ``a < fresh_for``, stale if not but ``a < stale_for``,
    else expired.
    """
    return (ttl if max_age is None else min(ttl, max_age)), ttl + stale
