"""Value types of the public API: datasets, operations, provider declarations and results.

Everything here is an attrs class. Values are frozen and slotted; the few per-request objects
are kept small because they sit on the hot path.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar

import attrs
from attrs import field, frozen

from polysource.errors import PolysourceError, ProviderError

if TYPE_CHECKING:
    from polysource.clock import Clock

__all__ = [
    "BatchResult",
    "BatchSummary",
    "BreakerState",
    "CachePolicy",
    "CompositeResult",
    "Dataset",
    "HealthStatus",
    "MergedResult",
    "Operation",
    "OperationCall",
    "OperationResult",
    "ProviderHealth",
    "ProviderInfo",
    "ProviderStats",
    "Request",
    "Result",
    "Stats",
    "TIERS",
    "Tier",
]

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")

Tier = Literal["free", "basic", "premium"]
TIERS: Final[tuple[str, ...]] = ("free", "basic", "premium")


def _ttl_map(value: Mapping[str, float] | float) -> Mapping[str, float]:
    if isinstance(value, int | float):
        return dict.fromkeys(TIERS, float(value))
    unknown = set(value) - set(TIERS)
    if unknown:
        raise ValueError(f"unknown tier(s) {sorted(unknown)}; tiers are {', '.join(TIERS)}")
    base = float(value.get("free", min(value.values(), default=0.0)))
    out: dict[str, float] = {tier: float(value.get(tier, base)) for tier in TIERS}
    for tier, ttl in out.items():
        if ttl < 0:
            raise ValueError(f"ttl for tier {tier!r} must be >= 0, got {ttl}")
    return out


@frozen
class CachePolicy:
    """How long a dataset's values stay fresh, and how long after that they may be served stale.

    Args:
        ttl: Seconds a value is fresh, per tier (``free``, ``basic``, ``premium``); a single
            number applies to every tier.
        stale: Seconds after expiry during which a value may still be served when every provider
            fails (stale-if-error) or while a background refresh runs (stale-while-revalidate).
        cacheable: Whether values are cached at all.
        negative_ttl: Seconds a ``not_found`` answer is remembered.
        revalidate: Whether a request inside the stale window is answered from cache at once
            while one background refresh runs.
    """

    ttl: Mapping[str, float] = field(default=60.0, converter=_ttl_map)
    stale: float = 300.0
    cacheable: bool = True
    negative_ttl: float = 30.0
    revalidate: bool = False


def _identity(key: str) -> str:
    return key


@frozen(eq=False)
class Dataset(Generic[T]):
    """A named kind of data with a schema and a cache policy; also a typed handle for ``fetch``.

    ``await orch.fetch(QUOTE, "AAPL")`` is a ``Result[Quote]`` because ``QUOTE`` is a
    ``Dataset[Quote]``. Datasets compare and hash by identity: each is registered once.

    Args:
        name: The dataset's name, as used in config, URLs and events.
        schema: The attrs class every provider's answer is mapped to.
        policy: Cache TTLs and stale window.
        private: Whether values belong to one tenant (cached per tenant, tenant required).
        merge: Default merge strategy for ``fetch_merged``.
        normalize_key: Maps a caller's key to the canonical key (e.g. upper-case tickers).
        merge_key: For list-valued data, the field that identifies an item when merging.
        description: One line for docs and ``polysource plugins``.
        validate: Numeric fields ``fetch_merged`` cross-checks between providers: with three
            answers or more, one that differs from the median by more than ``tolerance``
            (relative) is excluded as an outlier.
        tolerance: Relative difference allowed by ``validate``.
        parts: For a composite dataset, part name to the dataset it comes from. The schema
            takes the canonical key as its first argument and one optional field per part;
            ``fetch_composite`` fetches the parts in parallel and builds it.
        validators: Checks of a provider's answer, each ``validator(value) -> str | None``:
            ``None`` when the value is acceptable, else what is wrong with it (name the field,
            do not quote the value). An answer that fails one is an ``invalid_response`` from
            that provider: never cached or merged, counted by its breaker, failed over.
            [`polysource.datasets`][polysource.datasets] has the standard ones.
    """

    name: str
    schema: type[T]
    policy: CachePolicy = CachePolicy()
    private: bool = False
    merge: str = "first"
    normalize_key: Callable[[str], str] = field(default=_identity, eq=False)
    merge_key: str | None = None
    description: str = ""
    validate: tuple[str, ...] = ()
    tolerance: float = 0.02
    parts: Mapping[str, str] = field(factory=dict)
    validators: tuple[Callable[[Any], str | None], ...] = ()

    def __str__(self) -> str:
        return self.name

    def check(self, value: T) -> str | None:
        """What the first failing validator says about ``value``; ``None`` if all pass."""
        for validator in self.validators:
            found = validator(value)
            if found is not None:
                return found
        return None

    @property
    def is_composite(self) -> bool:
        """Whether the dataset is composed of other datasets (see ``parts``)."""
        return bool(self.parts)


@frozen(eq=False)
class Operation(Generic[P, R]):
    """A named action that is not a keyed read (``create_link``, ``sync_transactions``, ...).

    Args:
        name: The operation's name.
        params: attrs class of its parameters.
        result: attrs class of its result.
        idempotent: Whether it may be retried or failed over after a timeout that may have
            reached the provider.
        private: Whether it acts on a tenant's data (a tenant is then required).
        sticky: Whether it needs the tenant's existing connection at the provider; a sticky
            operation fails over only to providers where the tenant has a connection.
        description: One line for docs.
    """

    name: str
    params: type[P]
    result: type[R]
    idempotent: bool = True
    private: bool = True
    sticky: bool = True
    description: str = ""

    def __str__(self) -> str:
        return self.name


def _regions(value: Mapping[str, int]) -> Mapping[str, int]:
    out = dict(value)
    for region, rank in out.items():
        if not isinstance(rank, int) or isinstance(rank, bool):
            raise TypeError(f"rank of region {region!r} must be an int, got {rank!r}")
    return out


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


@frozen
class ProviderInfo:
    """What a provider declares about itself; read at start-up, never per request.

    Args:
        name: Unique provider name (``tiingo``); config sections use it.
        datasets: Names of the datasets it serves.
        operations: Names of the operations it serves.
        regions: Region name to rank; a lower rank is tried first. ``global`` serves
            every region after the providers that name it explicitly.
        max_batch_size: Most keys one ``fetch_batch`` call takes (1 = no batching).
        rate_limits: Default rate limits in ``limits`` notation (``"50/hour"``).
        cost_per_call: Default cost of one call, in the budget's unit.
        credentials: Names of the credentials it needs (``api_key``), resolved from config.
        version: The plugin's version, for reports.
        description: One line for ``polysource plugins``.
    """

    name: str
    datasets: frozenset[str] = field(default=frozenset(), converter=_names)
    operations: frozenset[str] = field(default=frozenset(), converter=_names)
    regions: Mapping[str, int] = field(factory=lambda: {"global": 100}, converter=_regions)
    max_batch_size: int = field(default=1, validator=_positive)
    rate_limits: tuple[str, ...] = field(default=(), converter=_strings)
    cost_per_call: float = 0.0
    credentials: tuple[str, ...] = field(default=(), converter=_strings)
    version: str = ""
    description: str = ""


@frozen
class Request:
    """One provider call's view of the request (built per attempt on the miss path).

    Args:
        dataset: The dataset asked for.
        key: The canonical key.
        region: The region the caller asked in.
        tier: The caller's tier.
        tenant: The tenant, for private data.
        connection: The tenant's connection at this provider (an access token), if any.
        deadline: Monotonic time by which the whole request must finish.
    """

    dataset: Dataset[Any]
    key: str
    region: str
    tier: str = "free"
    tenant: str | None = None
    connection: Any = None
    deadline: float | None = None


@frozen
class OperationCall:
    """One provider call's view of an operation (what ``execute`` receives).

    Args:
        operation: The operation.
        region: The region the caller asked in.
        tenant: The tenant.
        connection: The tenant's `Connection` at this
            provider, or ``None`` (``create_link``).
        deadline: Monotonic time by which the whole request must finish.
        tier: The caller's tier.
    """

    operation: Operation[Any, Any]
    region: str
    tenant: str | None = None
    connection: Any = None
    deadline: float | None = None
    tier: str = "free"


@frozen(eq=False)
class Result(Generic[T]):
    """The answer to one ``fetch``.

    Args:
        data: The value, an instance of the dataset's schema.
        source: Name of the provider that produced it.
        cached: Whether it came from a cache tier.
        stale: Whether it is past its TTL (served because every provider failed, or while a
            refresh runs).
        errors: Errors of providers that failed before the answer was found.
        attempts: Provider calls made for this request (0 for a cache hit).
        duration: Seconds spent answering.
        deduplicated: Whether this caller joined a request already in flight.
        providers: Providers tried, in order.
        tier: The cache tier that answered (``memory``, ``redis``, ...), or ``None``.
        fetched_at: Monotonic time at which the provider produced the data.
    """

    data: T
    source: str
    cached: bool = False
    stale: bool = False
    errors: tuple[ProviderError, ...] = ()
    attempts: int = 0
    duration: float = 0.0
    deduplicated: bool = False
    providers: tuple[str, ...] = ()
    tier: str | None = None
    fetched_at: float = 0.0
    _clock: Clock | None = field(default=None, repr=False, alias="clock")

    @property
    def age(self) -> float:
        """Seconds since the provider produced the data, measured now."""
        if self._clock is None:
            return 0.0
        return max(0.0, self._clock.monotonic() - self.fetched_at)


@frozen(eq=False)
class CompositeResult(Generic[T]):
    """The answer to ``fetch_composite``: the parts that answered, and the errors of the rest.

    Args:
        data: The composite value (parts that failed or were not asked are ``None``).
        results: Part name to its ``Result`` (its source, cache state, errors...).
        errors: Part name to the error that made it fail.
        succeeded: Parts that answered.
        failed: Parts that failed.
        duration: Seconds spent.
    """

    data: T
    results: Mapping[str, Result[Any]] = field(factory=dict)
    errors: Mapping[str, PolysourceError] = field(factory=dict)
    succeeded: int = 0
    failed: int = 0
    duration: float = 0.0


@frozen
class BatchSummary:
    """Counts for one ``fetch_many``."""

    total: int
    successful: int
    failed: int
    cached: int
    fresh: int
    batches: int
    duration: float


@frozen
class BatchResult(Generic[T]):
    """The answer to ``fetch_many``: a result or an error per key, and a summary."""

    results: Mapping[str, Result[T]]
    errors: Mapping[str, PolysourceError]
    summary: BatchSummary


@frozen
class OperationResult(Generic[R]):
    """The answer to ``execute``.

    Args:
        data: The operation's result object.
        provider: The provider that performed it.
        failover_used: Whether a provider other than the first candidate performed it.
        attempts: Provider calls made.
        errors: Errors of providers that failed before.
        duration: Seconds spent.
    """

    data: R
    provider: str
    failover_used: bool = False
    attempts: int = 1
    errors: tuple[ProviderError, ...] = ()
    duration: float = 0.0


class HealthStatus(enum.StrEnum):
    """A provider's health as the engine sees it."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


class BreakerState(enum.StrEnum):
    """A circuit breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@frozen
class ProviderHealth:
    """One provider's health report (no secrets, no tenant data)."""

    provider: str
    status: HealthStatus
    breaker: BreakerState = BreakerState.CLOSED
    enabled: bool = True
    in_rotation: bool = True
    consecutive_failures: int = 0
    uptime: float | None = None
    latency: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    rank_override: int | None = None


@frozen
class ProviderStats:
    """Counters for one provider."""

    attempts: int = 0
    successes: int = 0
    failures: int = 0
    retries: int = 0
    skipped: int = 0
    cost_spent: float = 0.0
    budget_limit: float | None = None
    """Cost units allowed per budget period (``None``: no budget)."""
    budget_spent: float = 0.0
    """Cost spent in the current budget period (by this process, for a shared budget)."""
    budget_resets_at: float | None = None
    """Wall time (epoch seconds) at which the budget's current window resets (``None``: no
    budget)."""


@frozen
class Stats:
    """Engine-wide counters, as returned by ``orch.stats()``."""

    requests: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    hits_by_tier: Mapping[str, int] = field(factory=dict)
    stale_served: int = 0
    deduplicated: int = 0
    batches: int = 0
    providers: Mapping[str, ProviderStats] = field(factory=dict)
    fleet: Mapping[str, int] = field(factory=dict)
    """With a fleet: ``leads`` (misses this process called providers for under a lease),
    ``joins`` (answered by another process), ``wait_timeouts``, ``remote_breaker_changes``,
    ``invalidations`` received, ``failures`` of the fleet, ``attached`` (1 or 0)."""
    memory_entries: int = 0
    """Entries held by the memory tier (L1) now."""
    memory_bytes: int = 0
    """Bytes the memory tier's entries are charged (the figure ``max_bytes`` bounds)."""
    memory_evictions: int = 0
    """Entries the memory tier evicted to stay within its bounds."""

    @property
    def hit_rate(self) -> float:
        """Share of lookups answered by a cache tier (0.0 when nothing was looked up)."""
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total else 0.0


@frozen
class MergedResult(Generic[T]):
    """The answer to ``fetch_merged``: one value combined from several providers' answers.

    Merged results are never cached, so there is no ``cached`` or ``stale`` flag: every field
    comes from providers asked for this request.

    Args:
        data: The merged value, an instance of the dataset's schema.
        sources: Providers that answered, in failover order; every answer was merged.
        provenance: Field name to the providers whose answers made that field's value (one
            provider for a picked value, several for a median or a union). Fields that no
            answer set are left out.
        conflicts: Field name to each provider's value, for the fields on which the providers
            disagreed (``consensus``); empty when they agreed.
        errors: Errors of the providers that did not answer, in failover order.
        attempts: Provider calls made, retries included.
        duration: Seconds spent answering.
        strategy: Name of the merge strategy used.
        excluded: Providers whose answers were left out as outliers, with the reason.
    """

    data: T
    sources: tuple[str, ...]
    provenance: Mapping[str, tuple[str, ...]] = field(factory=dict)
    conflicts: Mapping[str, Mapping[str, Any]] = field(factory=dict)
    errors: tuple[ProviderError, ...] = ()
    attempts: int = 0
    duration: float = 0.0
    strategy: str = "first"
    excluded: Mapping[str, str] = field(factory=dict)
