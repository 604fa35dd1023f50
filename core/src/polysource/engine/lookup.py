"""The L1 lookup stage: fresh, stale, negative or miss, for any call shape.

Every request method asks this stage first, with the caller's own arguments: ``fetch`` (any
options), ``fetch_many`` (per key, in one loop) and the engine behind them. A fresh hit costs
dict lookups and one clock read: no task, no timeout, no lock, and an event only when a sink
listens for it.

Each dataset has a :class:`View`, found by its handle or its name: its canonical name, its
cache policy and a bounded memo of the keys callers spelled (``"aapl"``) to their canonical
form (``"AAPL"``). A key enters the memo only once it is known to be a valid key, so a key the
memo knows needs neither normalising nor checking again. Entries are those of the memory tier,
keyed by ``(dataset, key, region, tenant)``: a hit finds the entry's slot and reads its result
and time from the tier's per-slot arrays (no entry object is built), and sets the slot's
reference bit (the memory tier's eviction gives it a second chance) instead of reordering the
store.

A request whose entry is absent while the same cache key is in flight joins that flight
([`flight()`][polysource.engine.lookup.Lookup.flight]): the engine's single-flight map, keyed by
the cache key, is the one way identical requests share a provider call, so a joiner costs the
lookup and a wait on the flight's shared future.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

from polysource.cache.memory import CacheKey, Entry, MemoryCache
from polysource.clock import Clock
from polysource.engine.singleflight import Flight, SingleFlight
from polysource.engine.telemetry import Emitter
from polysource.errors import AllProvidersFailed
from polysource.events import EventKind
from polysource.models import CachePolicy, Dataset, Result
from polysource.validation import is_plain_key

__all__ = ["MAX_MEMO_KEYS", "Lookup", "State", "View"]

MAX_MEMO_KEYS: Final = 4096
"""Key spellings a dataset's memo holds; past it the memo starts over (it is only a memo)."""

_NUMBER: Final = (int, float)


class State(enum.Enum):
    """What the memory tier holds for a request."""

    FRESH = "fresh"
    STALE = "stale"
    NEGATIVE = "negative"
    MISS = "miss"


class View:
    """One dataset as the lookup stage sees it."""

    __slots__ = (
        "cacheable",
        "ds",
        "keys",
        "name",
        "normalize",
        "plain",
        "policy",
        "private",
        "region",
        "tier_ttl",
        "ttl",
    )

    def __init__(self, ds: Dataset[Any], policy: CachePolicy, region: str, tier: str) -> None:
        self.ds = ds
        self.name = ds.name
        self.private = ds.private
        self.policy = policy
        self.ttl: Mapping[str, float] = policy.ttl
        self.cacheable = policy.cacheable and not ds.is_composite
        self.normalize = ds.normalize_key
        self.region = region
        self.tier_ttl = policy.ttl[tier]
        """The TTL for the configured caller tier."""
        self.keys: dict[Any, str] = {}
        """Valid keys as callers spelled them -> their canonical form."""
        self.plain: dict[Any, CacheKey] = {}
        """Valid keys as callers spelled them -> their cache key in the configured region (a
        public dataset's): the common call builds nothing."""

    def canonical(self, key: Any) -> str | None:
        """``key``'s canonical form if it is a plain key (else ``None``: the caller checks it)."""
        nkey = self.keys.get(key)
        if nkey is None and is_plain_key(key):
            nkey = self.normalize(key)
            self.remember(key, nkey)
        return nkey

    def remember(self, key: str, nkey: str) -> None:
        """Note a valid key's canonical form."""
        keys = self.keys
        if len(keys) >= MAX_MEMO_KEYS:
            keys.clear()
        keys[key] = nkey

    def plain_key(self, key: Any) -> CacheKey | None:
        """The cache key of a valid ``key`` in the configured region, remembered (else
        ``None``)."""
        nkey = self.canonical(key)
        if nkey is None:
            return None
        plain = self.plain
        if len(plain) >= MAX_MEMO_KEYS:
            plain.clear()
        ckey = plain[key] = (self.name, nkey, self.region, None)
        return ckey


class Lookup:
    """The memory tier's answers, for any call shape.

    Args:
        memory: The memory tier.
        datasets: The registered datasets.
        policies: Each dataset's cache policy (config applied).
        region: The region of a request that names none.
        tier: The caller tier of a request that names none.
        clock: The time source.
        emitter: Events (``cache_hit`` only when a sink listens).
        flights: The engine's calls in flight, by cache key.
    """

    def __init__(
        self,
        memory: MemoryCache,
        datasets: Mapping[str, Dataset[Any]],
        policies: Mapping[str, CachePolicy],
        region: str,
        tier: str,
        clock: Clock,
        emitter: Emitter,
        flights: SingleFlight[Any],
    ) -> None:
        self.memory = memory
        self.region = region
        self.tier = tier
        self.now = clock.monotonic
        self.emitter = emitter
        self.hit_events = emitter.wants[EventKind.CACHE_HIT]
        """Whether a sink listens for ``cache_hit`` (sinks are fixed when the engine is built)."""
        self._slot_of = memory.slot_of
        self._results = memory.results
        self._stored_at = memory.stored_at
        self._referenced = memory.referenced
        self.views: dict[Any, View] = {}
        for name, ds in datasets.items():
            view = View(ds, policies[name], region, tier)
            self.views[name] = self.views[ds] = view
        self.hits = 0
        """Fresh hits answered by :meth:`fresh` (the engine counts those it asks for)."""
        self.inflight = flights.inflight
        """The engine's flights by cache key (empty when nothing is in flight)."""
        wants = emitter.wants
        self.join_events = wants[EventKind.CACHE_MISS] or wants[EventKind.DEDUPLICATED]
        """Whether a sink listens for a joiner's ``cache_miss`` or ``deduplicated``."""
        self.joins = 0
        """Requests that joined a flight through :meth:`flight`."""

    def view(self, dataset: Any) -> View | None:
        """The view of a dataset handle or name (``None`` if unknown or unhashable)."""
        try:
            return self.views.get(dataset)
        except TypeError:
            return None

    def fresh(
        self,
        dataset: Any,
        key: Any,
        region: Any,
        tier: Any,
        tenant: Any,
        max_age: Any,
    ) -> Result[Any] | None:
        """The fresh cached result of a request, or ``None`` (the request takes the pipeline).

        ``None`` also for anything unusual (an unknown dataset or tier, a key that is not
        plain, a tenant the dataset needs but the request lacks): the pipeline checks the
        request and says what is wrong.
        """
        try:
            view = self.views.get(dataset)
            if view is None:
                return None
            if region is None and not view.private:
                ckey = view.plain.get(key) or view.plain_key(key)
                if ckey is None:
                    return None
            else:
                nkey = view.keys.get(key) or view.canonical(key)
                if nkey is None:
                    return None
                if view.private:
                    if tenant is None:
                        return None
                    ckey = (view.name, nkey, region or self.region, tenant)
                else:
                    ckey = (view.name, nkey, region, None)
            slot = self._slot_of(ckey)
            if slot is None:
                return None
            ttl = view.tier_ttl if tier is None else view.ttl.get(tier)
        except TypeError:  # an unhashable argument: the pipeline reports it
            return None
        result = self._results[slot]
        if ttl is None or result is None:
            return None
        age = self.now() - self._stored_at[slot]
        if age >= ttl:
            return None
        if max_age is not None and (type(max_age) not in _NUMBER or not age < max_age):
            return None
        if tenant is not None and not view.private and not is_plain_key(tenant):
            return None  # a public dataset ignores the tenant, but it must be valid
        self._referenced[slot] = 1
        self.hits += 1
        if self.hit_events:
            self._hit_event(view, ckey)
        return result

    def flight(
        self, dataset: Any, key: Any, region: Any, tier: Any, tenant: Any, time_limit: float
    ) -> Flight[Any] | None:
        """The flight to join for a request with no entry, while its cache key is in flight.

        ``None`` if the request is unusual (the engine checks it), has an entry (stale or
        negative: the engine decides), or nothing is in flight for it; also if the flight was
        given longer than the caller's ``time_limit`` (it may outlive the caller: the engine
        times the wait). The caller counts as a request, a miss and a deduplicated call, with
        the engine's events for them.
        """
        try:
            view = self.views.get(dataset)
            if view is None or not view.cacheable:
                return None
            if region is None and not view.private:
                ckey = view.plain.get(key) or view.plain_key(key)
                if ckey is None:
                    return None
            else:
                nkey = view.keys.get(key) or view.canonical(key)
                if nkey is None or (region is not None and not is_plain_key(region)):
                    return None
                if view.private:
                    if tenant is None:
                        return None
                    ckey = (view.name, nkey, region or self.region, tenant)
                else:
                    ckey = (view.name, nkey, region, None)
            flight = self.inflight.get(ckey)
            if (
                flight is None
                or flight.deadline - flight.context.started > time_limit
                or (tier is not None and tier not in view.ttl)
                or (tenant is not None and not is_plain_key(tenant))
                or self._slot_of(ckey) is not None
            ):
                return None
        except TypeError:  # an unhashable argument: the engine reports it
            return None
        self.joins += 1
        if self.join_events:
            self._join_events(view, ckey, tenant)
        return flight

    def _join_events(self, view: View, ckey: CacheKey, tenant: Any) -> None:
        emit = self.emitter.emit
        if self.emitter.wants[EventKind.CACHE_MISS]:
            emit(
                EventKind.CACHE_MISS,
                dataset=view.name,
                key=ckey[1],
                private=view.private,
                tenant=tenant,
                region=ckey[2],
            )
        if self.emitter.wants[EventKind.DEDUPLICATED]:
            emit(
                EventKind.DEDUPLICATED,
                dataset=view.name,
                key=ckey[1],
                private=view.private,
                tenant=tenant,
            )

    def fresh_many(
        self,
        dataset: Any,
        keys: list[Any],
        region: Any,
        tier: Any,
        tenant: Any,
        hits: dict[Any, Result[Any]],
    ) -> list[Any]:
        """Put the fresh cached results of ``keys`` in ``hits``; return the other keys.

        :meth:`fresh` once per key, with the dataset, region, tier and tenant resolved once:
        the call shape does not change the cost per key.
        """
        view = self.view(dataset)
        if (
            view is None
            or (view.private and tenant is None)
            or (tenant is not None and not view.private and not is_plain_key(tenant))
        ):
            return keys
        try:
            ttl = view.tier_ttl if tier is None else view.ttl.get(tier)
        except TypeError:
            return keys
        if ttl is None:
            return keys
        slot_of = self._slot_of
        results, stored_at, referenced = self._results, self._stored_at, self._referenced
        now = self.now()
        misses: list[Any] = []
        if region is None and not view.private:
            plain = view.plain
            for key in keys:
                try:
                    ckey = plain.get(key) or view.plain_key(key)
                except TypeError:
                    ckey = None
                slot = slot_of(ckey) if ckey is not None else None
                result = None if slot is None else results[slot]
                if result is None or now - stored_at[slot] >= ttl:  # type: ignore[index]
                    misses.append(key)
                    continue
                referenced[slot] = 1  # type: ignore[index]
                hits[key] = result
        else:
            name = view.name
            area = region or self.region
            owner = tenant if view.private else None
            memo = view.keys
            for key in keys:
                try:
                    nkey = memo.get(key) or view.canonical(key)
                    slot = slot_of((name, nkey, area, owner)) if nkey is not None else None
                except TypeError:
                    slot = None
                result = None if slot is None else results[slot]
                if result is None or now - stored_at[slot] >= ttl:  # type: ignore[index]
                    misses.append(key)
                    continue
                referenced[slot] = 1  # type: ignore[index]
                hits[key] = result
        found = len(keys) - len(misses)
        self.hits += found
        if found and self.hit_events:
            for key in keys:
                if key in hits:
                    nkey = view.keys.get(key) or view.normalize(key)
                    owner = tenant if view.private else None
                    self._hit_event(view, (view.name, nkey, region or self.region, owner))
        return misses

    def classify(
        self,
        view: View,
        ckey: CacheKey,
        tier: str,
        now: float,
        max_age: float | None = None,
        force_refresh: bool = False,
    ) -> tuple[State, Entry | None]:
        """What the memory tier holds for a checked request: fresh, stale, a cached
        ``not_found`` (negative), or nothing usable (a miss). A stale answer carries its entry
        (for stale-while-revalidate and stale-if-error); so does a fresh one. ``force_refresh``
        makes a fresh or negative entry count as stale / a miss."""
        slot = self._slot_of(ckey)
        if slot is None:
            return State.MISS, None
        entry = self.memory.peek(ckey)
        assert entry is not None
        if entry.error is not None:
            if now < entry.stale_until and not force_refresh:
                return State.NEGATIVE, entry
            return State.MISS, None
        age = now - entry.stored_at
        ttl = view.ttl[tier]
        if age < (ttl if max_age is None else min(ttl, max_age)) and not force_refresh:
            self._referenced[slot] = 1
            if self.hit_events:
                self._hit_event(view, ckey)
            return State.FRESH, entry
        if age < ttl + view.policy.stale:
            return State.STALE, entry
        return State.MISS, None

    @staticmethod
    def negative(view: View, entry: Entry) -> AllProvidersFailed:
        """The failure a cached ``not_found`` answers with."""
        assert entry.error is not None
        return AllProvidersFailed(
            f"{view.name} {entry.key[1]!r} was not found (cached)", [entry.error]
        )

    def _hit_event(self, view: View, ckey: CacheKey) -> None:
        self.emitter.emit(
            EventKind.CACHE_HIT,
            dataset=view.name,
            key=ckey[1],
            private=view.private,
            tenant=ckey[3],
            detail={"tier": "memory"},
        )
