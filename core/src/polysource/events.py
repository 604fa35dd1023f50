"""Structured events delivered to ``on_event`` sinks.

An event is built only when at least one sink wants its kind. Events never carry a secret:
a tenant is always shown as its pseudonym, and so is the key of a private dataset (both keyed
with the deployment secret:
[`polysource.security.Keyring.pseudonym()`][polysource.security.Keyring.pseudonym]); the key of a
public
dataset is shown as it is.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

__all__ = ["Event", "EventKind"]


class EventKind(enum.StrEnum):
    """What happened."""

    CACHE_HIT = "cache_hit"
    CACHE_MISS = "cache_miss"
    CACHE_WRITE = "cache_write"
    STALE_SERVED = "stale_served"
    REVALIDATE = "revalidate"
    DEDUPLICATED = "deduplicated"
    ATTEMPT = "attempt"
    SUCCESS = "success"
    FAILURE = "failure"
    RETRY = "retry"
    FAILOVER = "failover"
    HEDGE = "hedge"
    SKIPPED = "skipped"
    BREAKER = "breaker"
    HEALTH = "health"
    BATCH = "batch"
    REQUEST_FAILED = "request_failed"
    OPERATION = "operation"
    PLUGIN_ERROR = "plugin_error"
    TIER = "tier"
    FLEET = "fleet"
    TENANT_MISMATCH = "tenant_mismatch"
    """A shared tier or the fleet handed over a private record of another tenant (or of no
    tenant): it was treated as a miss."""


@frozen
class Event:
    """One thing the engine did.

    Args:
        kind: What happened.
        at: Wall-clock time (seconds since the epoch).
        dataset: Dataset or operation name.
        key: The key (redacted for private data).
        region: Region of the request.
        provider: Provider concerned.
        tenant: The tenant's pseudonym (never the tenant id in clear).
        duration: Seconds the step took.
        category: Error category for failures and skips.
        attempt: Attempt number for attempts and retries (1-based).
        detail: Extra fields (breaker state, delay, ...), never secrets.
    """

    kind: EventKind
    at: float
    dataset: str | None = None
    key: str | None = None
    region: str | None = None
    provider: str | None = None
    tenant: str | None = None
    duration: float | None = None
    category: str | None = None
    attempt: int | None = None
    detail: Mapping[str, Any] = field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as a flat dict with empty fields left out (for logs and JSON)."""
        out: dict[str, Any] = {"event": self.kind.value, "at": self.at}
        for name in (
            "dataset",
            "key",
            "region",
            "provider",
            "tenant",
            "duration",
            "category",
            "attempt",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.detail)
        return out
