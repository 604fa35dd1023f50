"""The fetch pipeline behind ``Orchestrator.fetch`` (everything but the L1 hit fast path).

cache lookup -> (stale-while-revalidate) -> single-flight -> route -> attempt each provider
(optionally hedged) -> write cache -> Result; when all fail: stale-if-error or
``AllProvidersFailed``. ``not_found`` answers are cached for the dataset's ``negative_ttl``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Hashable, Mapping
from typing import Any

import attrs

from polysource.cache.codec import builder, encode
from polysource.cache.memory import ENTRY_OVERHEAD, CacheKey, Entry, MemoryCache, entry_size
from polysource.cache.policy import Freshness, ages, classify
from polysource.cache.tiers import Record, decode_record, encode_record
from polysource.clock import Clock
from polysource.connections import ConnectionStore, MemoryConnectionStore
from polysource.engine.attempt import ProviderSlot
from polysource.engine.batch import walk_many
from polysource.engine.call import ProviderCalls
from polysource.engine.fleet import WAITED, Fleet
from polysource.engine.route import Router
from polysource.engine.selection import SelectionPolicy
from polysource.engine.singleflight import Flight, SingleFlight, TaskSet
from polysource.engine.telemetry import Emitter
from polysource.engine.tiers import TierChain, glob_matcher, shared_key, shared_prefix
from polysource.errors import (
    AllProvidersFailed,
    ErrorCategory,
    PolysourceError,
    ProviderError,
    stops_failover,
)
from polysource.events import EventKind
from polysource.models import (
    TIERS,
    BatchResult,
    BatchSummary,
    CachePolicy,
    Dataset,
    Request,
    Result,
)
from polysource.security import Keyring

__all__ = ["FetchEngine", "Loaded", "drop_invalidated"]

MAX_BACKGROUND_REFRESHES = 64

_shared_result = builder(Result, ("data", "source", "tier", "fetched_at", "_clock"), cached=True)
"""``Result(data, source, cached=True, tier=..., fetched_at=..., clock=...)``, built about
twice as fast: one for every key a shared tier answers."""


def drop_invalidated(memory: MemoryCache, keyring: Keyring, fields: Mapping[str, Any]) -> None:
    """Drop memory-tier entries named by an invalidation (this process's or the fleet's).

    ``fields``: ``d`` the dataset; with neither ``k`` (normalised keys) nor ``p`` (a glob
    over them), the whole dataset; else entries of region ``r`` whose tenant's digest is
    ``h`` (``None`` for public data).
    """
    name = str(fields["d"])
    keys = fields.get("k")
    pattern = str(fields.get("p"))
    if keys is None and fields.get("p") is None:
        memory.clear(name)
        return
    region = str(fields.get("r"))
    owner = fields.get("h")
    if keys is not None and owner is None:
        for key in keys:
            memory.remove((name, key, region, None))
        return
    wanted = set(keys or ())
    matches = glob_matcher(pattern)
    for entry in memory:
        entry_name, key, entry_region, tenant = entry.key
        if (
            entry_name == name
            and entry_region == region
            and (keyring.digest(tenant) if tenant is not None else None) == owner
            and (key in wanted if keys is not None else matches(key))
        ):
            memory.remove(entry.key)


@attrs.define(slots=True)
class _FlightContext:
    """What a joiner needs to know about the flight it joins."""

    ds: Dataset[Any]
    ckey: CacheKey
    started: float
    signature: Hashable | None = None
    loaded: Loaded | None = None


@attrs.define(slots=True)
class Loaded:
    """What the provider walk produced."""

    value: Any
    source: str
    errors: tuple[ProviderError, ...]
    attempts: int
    providers: tuple[str, ...]
    fetched_at: float
    entry: Entry | None = None


class FetchEngine:
    """State and stages of the fetch pipeline for one orchestrator."""

    def __init__(
        self,
        *,
        clock: Clock,
        router: Router,
        slots: Mapping[str, ProviderSlot],
        policies: Mapping[str, CachePolicy],
        hedge_delays: Mapping[str, float | None],
        memory: MemoryCache | None,
        emitter: Emitter,
        tasks: TaskSet,
        keyring: Keyring | None = None,
        store: ConnectionStore | None = None,
        tiers: TierChain | None = None,
        policy: SelectionPolicy | None = None,
        fleet: Fleet | None = None,
    ) -> None:
        self.clock = clock
        self.keyring = keyring if keyring is not None else Keyring()
        """Tenants' pseudonyms (in shared keys) and digests (in shared records)."""
        self.router = router
        self.slots = slots
        self.policies = policies
        self.hedge_delays = hedge_delays
        self.memory = memory
        self.emitter = emitter
        self.tasks = tasks
        self.flights: SingleFlight[Loaded] = SingleFlight(tasks)
        self.joins: dict[Hashable, Flight[Loaded]] = {}
        """Flights of plain requests by call signature, for the orchestrator's join path."""
        self.store: ConnectionStore = store if store is not None else MemoryConnectionStore()
        """Tenants' connections; private datasets are read only where the tenant has one."""
        self.calls = ProviderCalls(
            clock=clock,
            router=router,
            slots=slots,
            emitter=emitter,
            tasks=tasks,
            store=self.store,
            policy=policy,
        )
        """The one way every walk, merge and execute calls a provider."""
        self.tiers: TierChain | None = tiers
        """Shared tiers below L1 (L2, L3), when configured."""
        self.fleet = fleet
        """Coordination with the other processes of a fleet, when configured."""
        self.tier_hits: dict[str, int] = {}
        self.refreshing = 0
        self.requests = 0
        self.hits = 0
        self.misses = 0
        self.stale_served = 0
        self.deduplicated = 0
        self.negative_hits = 0
        self.fleet_joins = 0

    # -- cache ---------------------------------------------------------------------------------

    def _pseudonym(self, tenant: str | None) -> str | None:
        """The tenant's pseudonym in shared keys (``None`` for public data)."""
        return self.keyring.pseudonym(tenant) if tenant is not None else None

    def _owner(self, tenant: str | None) -> str | None:
        """The tenant's digest that its shared records carry (``None`` for public data)."""
        return self.keyring.digest(tenant) if tenant is not None else None

    def _entry(
        self, ckey: CacheKey, loaded: Loaded, policy: CachePolicy, encoded_size: int = 0
    ) -> Entry:
        stored_at = self.clock.monotonic()
        result: Result[Any] = Result(
            loaded.value,
            loaded.source,
            cached=True,
            tier="memory",
            fetched_at=loaded.fetched_at,
            clock=self.clock,
        )
        stale_until = stored_at + max(policy.ttl.values()) + policy.stale
        size = entry_size(encoded_size or len(encode(loaded.value)))
        return Entry(ckey, result, stored_at, policy.ttl, stale_until, size)

    def _store(self, ds: Dataset[Any], ckey: CacheKey, loaded: Loaded) -> None:
        policy = self.policies[ds.name]
        if not policy.cacheable:
            return
        if self.tiers:
            now = self.clock.monotonic()
            fetched_wall = self.clock.time() - (now - loaded.fetched_at)
            self.tiers.write(
                shared_key(ds, ckey[1], ckey[2], self._pseudonym(ckey[3])),
                loaded.value,
                loaded.source,
                fetched_wall,
                max(policy.ttl.values()) + policy.stale,
                owner=self._owner(ckey[3]),
            )
        if self.memory is None:
            return
        entry = self._entry(ckey, loaded, policy)
        if self.memory.put(entry):
            loaded.entry = entry
        if self.emitter.wants[EventKind.CACHE_WRITE]:
            self.emitter.emit(
                EventKind.CACHE_WRITE,
                dataset=ds.name,
                key=ckey[1],
                private=ds.private,
                tenant=ckey[3],
                provider=loaded.source,
            )

    def drop_invalidated(self, fields: Mapping[str, Any]) -> None:
        """Drop memory-tier entries named by an invalidation (see
        [`drop_invalidated()`][polysource.engine.fetch.drop_invalidated])."""
        if self.memory is not None:
            drop_invalidated(self.memory, self.keyring, fields)

    def _store_not_found(self, ds: Dataset[Any], ckey: CacheKey, error: ProviderError) -> None:
        policy = self.policies[ds.name]
        if self.memory is None or not policy.cacheable or policy.negative_ttl <= 0:
            return
        now = self.clock.monotonic()
        until = now + policy.negative_ttl
        ttl = dict.fromkeys(TIERS, policy.negative_ttl)
        self.memory.put(Entry(ckey, None, now, ttl, until, ENTRY_OVERHEAD, error=error))

    # -- the pipeline --------------------------------------------------------------------------

    async def fetch(
        self,
        ds: Dataset[Any],
        key: str,
        region: str,
        tier: str,
        tenant: str | None,
        *,
        skip_cache: bool = False,
        force_refresh: bool = False,
        allow_stale: bool = True,
        max_age: float | None = None,
        time_limit: float,
        hedge: float | None = None,
        signature: Hashable | None = None,
        joinable: bool = False,
    ) -> Result[Any]:
        """Answer one request (see the module docstring for the stages).

        ``signature`` (the caller's exact arguments) lets the answer be indexed for the hit
        path; ``joinable`` lets identical later calls join this flight by signature.
        """
        clock = self.clock
        started = clock.monotonic()
        deadline = started + time_limit
        self.requests += 1
        nkey = ds.normalize_key(key)
        ckey: CacheKey = (ds.name, nkey, region, tenant if ds.private else None)
        policy = self.policies[ds.name]
        use_cache = self.memory is not None and policy.cacheable and not skip_cache
        store = (
            (self.memory is not None or bool(self.tiers)) and policy.cacheable and not skip_cache
        )
        stale: Entry | None = None
        if use_cache:
            answer, stale = self._lookup(
                ds,
                ckey,
                tier,
                started,
                max_age=max_age,
                force_refresh=force_refresh,
                allow_stale=allow_stale,
                signature=signature,
                time_limit=time_limit,
            )
            if answer is not None:
                return answer
        if self.tiers and policy.cacheable and not skip_cache and not force_refresh:
            answer, shared_stale = await self._shared_lookup(ds, ckey, tier, max_age, signature)
            if answer is not None:
                return answer
            stale = stale or shared_stale
        self.misses += 1
        if self.emitter.wants[EventKind.CACHE_MISS]:
            self.emitter.emit(
                EventKind.CACHE_MISS,
                dataset=ds.name,
                key=nkey,
                private=ds.private,
                tenant=tenant,
                region=region,
            )
        order = self.router.route(ds.name, region)
        hedge_delay = hedge if hedge is not None else self.hedge_delays.get(ds.name)
        flight, leader = self.flights.start(
            ckey,
            lambda: self._load(
                ds, nkey, ckey, region, tier, tenant, order, deadline, hedge_delay, store
            ),
            deadline,
            _FlightContext(ds, ckey, started),
            self._flight_done,
        )
        if leader and joinable and signature is not None:
            self.joins[signature] = flight
            flight.context.signature = signature
        if not leader:
            self.deduplicated += 1
            if self.emitter.wants[EventKind.DEDUPLICATED]:
                self.emitter.emit(
                    EventKind.DEDUPLICATED,
                    dataset=ds.name,
                    key=nkey,
                    private=ds.private,
                    tenant=tenant,
                )
        waiter = flight.wait()
        try:
            if deadline < flight.deadline:
                async with clock.timeout(max(0.0, deadline - clock.monotonic())):
                    loaded = await waiter
            else:
                loaded = await waiter  # the flight itself ends by this caller's deadline
        except AllProvidersFailed as failed:
            if stale is not None and allow_stale and started < stale.stale_until:
                return self._stale(ds, ckey, stale, failed.errors, len(failed.errors), started)
            self._report_failure(ds, nkey, tenant, failed)
            raise
        except TimeoutError:
            error = ProviderError(
                f"no answer within the {time_limit:g}s deadline",
                provider="(in flight)",
                category=ErrorCategory.TIMEOUT,
                retryable=False,
            )
            if stale is not None and allow_stale and started < stale.stale_until:
                return self._stale(ds, ckey, stale, (error,), 0, started)
            raise AllProvidersFailed(f"{ds.name} {nkey!r}: deadline passed", [error]) from None
        if not leader:
            return self.joined_result(flight, loaded)
        if signature is not None and loaded.entry is not None and self.memory is not None:
            self.memory.index_put(signature, loaded.entry, loaded.entry.fresh_until(tier))
        return Result(
            loaded.value,
            loaded.source,
            errors=loaded.errors,
            attempts=loaded.attempts,
            duration=clock.monotonic() - started,
            providers=loaded.providers,
            fetched_at=loaded.fetched_at,
            clock=clock,
        )

    async def fetch_many(
        self,
        ds: Dataset[Any],
        keys: list[str],
        region: str,
        tier: str,
        tenant: str | None,
        *,
        skip_cache: bool = False,
        allow_stale: bool = True,
        time_limit: float,
        concurrency: int = 4,
        handle: Any = None,
    ) -> BatchResult[Any]:
        """Answer many keys: cache, joined flights, then provider batches with per-key failover.

        ``handle`` (the caller's dataset argument, for calls without region, tier or tenant)
        lets the answered keys be indexed for the hit path of later calls.
        """
        clock = self.clock
        started = clock.monotonic()
        deadline = started + time_limit
        canonical = {key: ds.normalize_key(key) for key in keys}
        policy = self.policies[ds.name]
        use_cache = self.memory is not None and policy.cacheable and not skip_cache
        answers: dict[str, Result[Any]] = {}
        failures: dict[str, PolysourceError] = {}
        stale: dict[str, Entry] = {}
        joined: dict[str, Flight[Loaded]] = {}
        unique = list(dict.fromkeys(canonical.values()))
        self.requests += len(unique)
        if not use_cache and not self.flights:  # no L1 and nothing in flight: all are misses
            misses = unique
            self.misses += len(unique)
        else:
            misses = []
            for nkey in unique:
                ckey: CacheKey = (ds.name, nkey, region, tenant if ds.private else None)
                if use_cache and self._many_cached(
                    ds, ckey, tier, started, time_limit, allow_stale, answers, failures, stale
                ):
                    continue
                self.misses += 1
                flight = self.flights.get(ckey)
                if flight is not None:
                    joined[nkey] = flight
                    self.deduplicated += 1
                else:
                    misses.append(nkey)
        if misses and self.tiers and policy.cacheable and not skip_cache:
            misses = await self._many_shared(ds, misses, region, tier, tenant, answers, stale)
        batches = 0
        if misses:
            opened = self._open_flights(ds, misses, region, tenant, started, deadline, joined)
            try:
                batches = (
                    await self._load_many(
                        ds,
                        list(opened),
                        region,
                        tier,
                        tenant,
                        started,
                        deadline,
                        (self.memory is not None or bool(self.tiers))
                        and policy.cacheable
                        and not skip_cache,
                        answers,
                        failures,
                        concurrency,
                    )
                    if opened
                    else 0
                )
            finally:
                self._close_flights(opened, answers, failures)
        for nkey, flight in joined.items():
            try:
                answers[nkey] = self.joined_result(flight, await flight.wait())
            except AllProvidersFailed as joined_failure:
                failures[nkey] = joined_failure
        for nkey, failure in list(failures.items()):
            entry = stale.get(nkey)
            if isinstance(failure, AllProvidersFailed) and entry is not None and allow_stale:
                ckey = (ds.name, nkey, region, tenant if ds.private else None)
                answers[nkey] = self._stale(
                    ds, ckey, entry, failure.errors, len(failure.errors), started
                )
                del failures[nkey]
        if handle is not None and self.memory is not None:
            self._index_plain(ds, handle, canonical, region, tier)
        return self._batch_result(
            len(keys), canonical, len(unique), answers, failures, batches, started
        )

    def _open_flights(
        self,
        ds: Dataset[Any],
        misses: list[str],
        region: str,
        tenant: str | None,
        started: float,
        deadline: float,
        joined: dict[str, Flight[Loaded]],
    ) -> dict[str, Flight[Loaded]]:
        """A flight of this batch's own for each miss, so that a ``fetch`` or another batch of
        the same key joins it; a key in flight already (started while this batch read the
        shared tiers) is joined instead. Returns the keys this batch fetches."""
        opened: dict[str, Flight[Loaded]] = {}
        owner = tenant if ds.private else None
        for nkey in misses:
            ckey: CacheKey = (ds.name, nkey, region, owner)
            flight = self.flights.open(ckey, deadline, _FlightContext(ds, ckey, started))
            if flight is not None:
                opened[nkey] = flight
                continue
            running = self.flights.get(ckey)
            assert running is not None
            joined[nkey] = running
            self.deduplicated += 1
        return opened

    def _close_flights(
        self,
        opened: dict[str, Flight[Loaded]],
        answers: dict[str, Result[Any]],
        failures: dict[str, PolysourceError],
    ) -> None:
        """End this batch's flights with each key's answer or failure."""
        for nkey, flight in opened.items():
            result = answers.get(nkey)
            if result is not None:
                loaded = Loaded(
                    result.data,
                    result.source,
                    result.errors,
                    result.attempts,
                    result.providers,
                    result.fetched_at,
                )
                self.flights.close(flight, loaded)
                continue
            error = failures.get(nkey) or AllProvidersFailed(
                f"{nkey!r}: the batch fetching it ended without an answer",
                [
                    ProviderError(
                        "the batch fetching this key was cancelled",
                        provider="(in flight)",
                        category=ErrorCategory.TIMEOUT,
                        retryable=True,
                    )
                ],
            )
            self.flights.close(flight, error=error)

    def _batch_result(
        self,
        total: int,
        canonical: dict[str, str],
        distinct: int,
        answers: dict[str, Result[Any]],
        failures: dict[str, PolysourceError],
        batches: int,
        started: float,
    ) -> BatchResult[Any]:
        """The answers and failures keyed by the keys as given, and the summary.

        ``canonical`` maps each key as given to its normalised form; ``distinct`` is the
        number of normalised keys.
        """
        if len(answers) == distinct:  # every key answered
            results = {key: answers[nkey] for key, nkey in canonical.items()}
        else:
            results = {key: answers[nkey] for key, nkey in canonical.items() if nkey in answers}
        errors = (
            {key: failures[nkey] for key, nkey in canonical.items() if nkey in failures}
            if failures
            else {}
        )
        cached = [result.cached for result in results.values()].count(True)
        summary = BatchSummary(
            total=total,
            successful=len(results),
            failed=len(errors),
            cached=cached,
            fresh=len(results) - cached,
            batches=batches,
            duration=self.clock.monotonic() - started,
        )
        return BatchResult(results, errors, summary)

    async def _many_shared(
        self,
        ds: Dataset[Any],
        misses: list[str],
        region: str,
        tier: str,
        tenant: str | None,
        answers: dict[str, Result[Any]],
        stale: dict[str, Entry],
    ) -> list[str]:
        """Look the misses up in the shared tiers (one round trip per tier); the rest remain."""
        assert self.tiers is not None
        owner = tenant if ds.private else None
        prefix = shared_prefix(ds, region, self._pseudonym(owner))
        found, tier_names = await self.tiers.get_many(
            [prefix + nkey for nkey in misses], ds, self._owner(owner)
        )
        policy = self.policies[ds.name]
        fresh_for, stale_for = ages(policy.ttl[tier], policy.stale)
        promote = self.memory is not None
        clock = self.clock
        now = clock.monotonic()
        wall = clock.time()
        remaining = []
        answered: list[str] = []  # the tier of each fresh answer
        build = _shared_result
        for nkey, record, tier_name in zip(misses, found, tier_names, strict=True):
            if record is None:
                remaining.append(nkey)
                continue
            stamp = record.fetched_at  # wall time; a writer's clock ahead of ours gives age 0
            age = wall - stamp if wall > stamp else 0.0
            fetched_at = now - age
            if age < fresh_for:
                if promote:
                    self._promote(ds, (ds.name, nkey, region, owner), record, fetched_at)
                answered.append(tier_name)
                answers[nkey] = build(record.value, record.source, tier_name, fetched_at, clock)
                continue
            if promote or age < stale_for:
                entry = self._promote(ds, (ds.name, nkey, region, owner), record, fetched_at)
                if age < stale_for:
                    stale[nkey] = entry
            remaining.append(nkey)
        self.hits += len(answered)
        for tier_name, count in Counter(answered).items():
            self.tier_hits[tier_name] = self.tier_hits.get(tier_name, 0) + count
        return remaining

    def _many_cached(
        self,
        ds: Dataset[Any],
        ckey: CacheKey,
        tier: str,
        now: float,
        time_limit: float,
        allow_stale: bool,
        answers: dict[str, Result[Any]],
        failures: dict[str, PolysourceError],
        stale: dict[str, Entry],
    ) -> bool:
        """The cache stage of ``fetch_many`` for one key; whether the key is settled."""
        nkey = ckey[1]
        try:
            answer, entry = self._lookup(
                ds,
                ckey,
                tier,
                now,
                max_age=None,
                force_refresh=False,
                allow_stale=allow_stale,
                signature=None,
                time_limit=time_limit,
            )
        except AllProvidersFailed as cached_failure:
            failures[nkey] = cached_failure
            return True
        if answer is not None:
            answers[nkey] = answer
            return True
        if entry is not None:
            stale[nkey] = entry
        return False

    def _index_plain(
        self, ds: Dataset[Any], handle: Any, canonical: dict[str, str], region: str, tier: str
    ) -> None:
        assert self.memory is not None
        for key, nkey in canonical.items():
            entry = self.memory.peek((ds.name, nkey, region, None))
            if entry is not None and entry.result is not None:
                self.memory.index_put(
                    (handle, key, None, None, None), entry, entry.fresh_until(tier)
                )

    async def _load_many(
        self,
        ds: Dataset[Any],
        misses: list[str],
        region: str,
        tier: str,
        tenant: str | None,
        started: float,
        deadline: float,
        store: bool,
        answers: dict[str, Result[Any]],
        failures: dict[str, PolysourceError],
        concurrency: int,
    ) -> int:
        order = self.calls.route(ds.name, region)
        skipped: list[ProviderError] = []
        slots = self.calls.asked(order, ds.name, skipped)
        fleet = self.fleet
        if fleet is not None and store and fleet.single_flight:
            values, errors, batches, misses = await self._fleet_many(
                ds, misses, region, tier, tenant, slots, started, deadline, answers, concurrency
            )
        else:
            request = Request(ds, misses[0], region, tier, tenant, deadline=deadline)
            values, errors, batches = await walk_many(
                self.calls, slots, request, misses, deadline, concurrency
            )
        now = self.clock.monotonic()
        for nkey in misses:
            if skipped:
                errors[nkey][:0] = skipped
            ckey: CacheKey = (ds.name, nkey, region, tenant if ds.private else None)
            if nkey in values:
                value, source, calls = values[nkey]
                tried = (*(e.provider for e in errors[nkey]), source)
                loaded = Loaded(value, source, tuple(errors[nkey]), calls, tried, now)
                if store:
                    self._store(ds, ckey, loaded)
                answers[nkey] = Result(
                    value,
                    source,
                    errors=loaded.errors,
                    attempts=calls,
                    duration=now - started,
                    providers=tried,
                    fetched_at=now,
                    clock=self.clock,
                )
                continue
            failed = AllProvidersFailed(
                f"every provider failed for {ds.name} {nkey!r} in {region}", errors[nkey]
            )
            if (
                store
                and errors[nkey]
                and all(e.category is ErrorCategory.NOT_FOUND for e in errors[nkey])
            ):
                self._store_not_found(ds, ckey, errors[nkey][0])
            failures[nkey] = failed
        return batches

    async def _fleet_many(
        self,
        ds: Dataset[Any],
        misses: list[str],
        region: str,
        tier: str,
        tenant: str | None,
        candidates: list[ProviderSlot],
        started: float,
        deadline: float,
        answers: dict[str, Result[Any]],
        concurrency: int,
    ) -> tuple[dict[str, tuple[Any, str, int]], dict[str, list[ProviderError]], int, list[str]]:
        """Cross-process single-flight for a batch: the misses are leased in one round trip;
        the leased ones are fetched while the answers of the keys other processes hold are
        awaited, and held keys that get no answer are fetched afterwards.

        Returns the provider walk's values, errors and batch count, and the keys it served
        (the others are in ``answers``, answered by the fleet).
        """
        fleet = self.fleet
        assert fleet is not None
        owner = tenant if ds.private else None
        prefix = shared_prefix(ds, region, self._pseudonym(owner))
        cut = len(prefix)
        lease = await fleet.lead_many([prefix + nkey for nkey in misses], deadline)
        request = Request(ds, misses[0], region, tier, tenant, deadline=deadline)
        own = [skey[cut:] for skey in (*lease.leased, *lease.unleased)]

        async def walk_own() -> tuple[dict[str, Any], dict[str, list[ProviderError]], int]:
            found: tuple[dict[str, Any], dict[str, list[ProviderError]], int] = ({}, {}, 0)
            try:
                if own:
                    found = await walk_many(
                        self.calls, candidates, request, own, deadline, concurrency
                    )
                return found
            finally:  # publish at once: other processes may be waiting for these keys
                if lease.token is not None:
                    fleet.finish_many(
                        lease.token,
                        self._fleet_records(lease.leased, cut, found[0], self._owner(owner)),
                    )

        try:
            async with asyncio.TaskGroup() as group:
                walk = group.create_task(walk_own())
                held = await lease.answers(deadline)
            values, errors, batches = walk.result()
        finally:
            lease.close()
        late = []
        for skey in lease.held:
            nkey = skey[cut:]
            data = held.get(skey)
            joined = (
                self._from_fleet(ds, (ds.name, nkey, region, owner), decode_record(data, ds.schema))
                if data is not None
                else None
            )
            if joined is None:
                late.append(nkey)
                continue
            answers[nkey] = Result(
                joined.value,
                joined.source,
                duration=self.clock.monotonic() - started,
                deduplicated=True,
                fetched_at=joined.fetched_at,
                clock=self.clock,
            )
        if late:  # their holders failed or were too slow: ask the providers
            more, more_errors, more_batches = await walk_many(
                self.calls, candidates, request, late, deadline, concurrency
            )
            values.update(more)
            errors.update(more_errors)
            batches += more_batches
        return values, errors, batches, [*own, *late]

    def _fleet_records(
        self,
        leased: list[str],
        cut: int,
        values: dict[str, tuple[Any, str, int]],
        owner: str | None,
    ) -> dict[str, bytes | None]:
        """The answers to publish for the leased shared keys (``None`` where a key failed);
        ``cut`` is the length of the keys' shared prefix, ``owner`` their tenant's digest."""
        now = self.clock.monotonic()
        records: dict[str, bytes | None] = {}
        for skey in leased:
            found = values.get(skey[cut:])
            records[skey] = (
                self._record(Loaded(found[0], found[1], (), 0, (), now), owner)
                if found is not None
                else None
            )
        return records

    async def _shared_lookup(
        self,
        ds: Dataset[Any],
        ckey: CacheKey,
        tier: str,
        max_age: float | None,
        signature: Hashable | None,
    ) -> tuple[Result[Any] | None, Entry | None]:
        """The shared tiers' stage: a fresh record answers (and fills the tiers above it)."""
        assert self.tiers is not None
        skey = shared_key(ds, ckey[1], ckey[2], self._pseudonym(ckey[3]))
        owner = self._owner(ckey[3])
        found = await self.tiers.get(skey, ds, owner)
        if found is None:
            return None, None
        record, tier_name, missed = found
        policy = self.policies[ds.name]
        now, fetched_at = self._fetched_at(record)
        ttl = policy.ttl[tier]
        if max_age is None and now - fetched_at < ttl:  # classify's common case, inline
            state = Freshness.FRESH
        else:
            state = classify(now, fetched_at, ttl, policy.stale, max_age)
        entry = None
        if self.memory is not None or state is Freshness.STALE:
            entry = self._promote(ds, ckey, record, fetched_at)
        if state is Freshness.EXPIRED:
            return None, None
        if state is Freshness.STALE:
            return None, entry
        if missed:
            self.tiers.write(
                skey,
                record.value,
                record.source,
                record.fetched_at,
                max(policy.ttl.values()) + policy.stale,
                tiers=missed,
                owner=owner,
            )
        self.hits += 1
        self.tier_hits[tier_name] = self.tier_hits.get(tier_name, 0) + 1
        if signature is not None and entry is not None and entry.alive:
            self.memory.index_put(signature, entry, entry.fresh_until(tier))  # type: ignore[union-attr]
        result = _shared_result(record.value, record.source, tier_name, fetched_at, self.clock)
        return result, None

    def _promote(
        self, ds: Dataset[Any], ckey: CacheKey, record: Record, fetched_at: float | None = None
    ) -> Entry:
        """An L1 entry for a record from a shared tier, aged as the record is.

        ``fetched_at`` is the record's fetch time on the monotonic clock, when the caller has
        it already. The shared-tier stages build one only where it is needed: to fill L1, or
        to serve the record stale.
        """
        if fetched_at is None:
            fetched_at = self._fetched_at(record)[1]
        loaded = Loaded(record.value, record.source, (), 0, (), fetched_at)
        entry = self._entry(ckey, loaded, self.policies[ds.name], record.size)
        entry.stored_at = fetched_at
        if self.memory is not None:
            self.memory.put(entry)
        return entry

    def _lookup(
        self,
        ds: Dataset[Any],
        ckey: CacheKey,
        tier: str,
        now: float,
        *,
        max_age: float | None,
        force_refresh: bool,
        allow_stale: bool,
        signature: Hashable | None,
        time_limit: float,
    ) -> tuple[Result[Any] | None, Entry | None]:
        """The cache stage: an answer from cache (or a cached not-found), and any stale entry."""
        assert self.memory is not None
        entry = self.memory.get(ckey)
        if entry is None:
            return None, None
        policy = self.policies[ds.name]
        if entry.error is not None:
            if now < entry.stale_until and not force_refresh:
                self.negative_hits += 1
                raise AllProvidersFailed(
                    f"{ds.name} {ckey[1]!r} was not found (cached)", [entry.error]
                )
            return None, None
        state = classify(now, entry.stored_at, policy.ttl[tier], policy.stale, max_age)
        if state is Freshness.FRESH and not force_refresh:
            return self._hit(ds, ckey, entry, tier, signature), None
        if state is not Freshness.STALE:
            return None, None
        if policy.revalidate and allow_stale and not force_refresh:
            _, key, region, tenant = ckey
            self._revalidate(ds, key, ckey, region, tier, tenant, time_limit)
            return self._stale(ds, ckey, entry, (), 0, now), entry
        return None, entry

    def _flight_done(self, flight: Flight[Loaded]) -> None:
        signature = flight.context.signature
        if signature is not None and self.joins.get(signature) is flight:
            del self.joins[signature]
            loaded = flight.context.loaded
            if loaded is not None:
                self.joined_result(flight, loaded)  # ready before the joiners wake

    def joined_result(self, flight: Flight[Loaded], loaded: Loaded) -> Result[Any]:
        """The one Result every joiner of a flight gets (built once)."""
        shared = flight.shared
        if shared is None:
            shared = flight.shared = Result(
                loaded.value,
                loaded.source,
                errors=loaded.errors,
                attempts=loaded.attempts,
                duration=self.clock.monotonic() - flight.context.started,
                deduplicated=True,
                providers=loaded.providers,
                fetched_at=loaded.fetched_at,
                clock=self.clock,
            )
        return shared  # type: ignore[no-any-return]

    def stale_for(self, flight: Flight[Loaded], failed: AllProvidersFailed) -> Result[Any]:
        """For a joiner of a failed flight: the stale entry if one may be served, else raise."""
        context = flight.context
        stale = self.memory.peek(context.ckey) if self.memory is not None else None
        now = self.clock.monotonic()
        if stale is not None and stale.error is None and now < stale.stale_until:
            return self._stale(
                context.ds, context.ckey, stale, failed.errors, len(failed.errors), now
            )
        raise failed

    def _hit(
        self,
        ds: Dataset[Any],
        ckey: CacheKey,
        entry: Entry,
        tier: str,
        signature: Hashable | None,
    ) -> Result[Any]:
        self.hits += 1
        if signature is not None:
            self.memory.index_put(signature, entry, entry.fresh_until(tier))  # type: ignore[union-attr]
        if self.emitter.wants[EventKind.CACHE_HIT]:
            self.emitter.emit(
                EventKind.CACHE_HIT,
                dataset=ds.name,
                key=ckey[1],
                private=ds.private,
                tenant=ckey[3],
                detail={"tier": "memory"},
            )
        assert entry.result is not None
        return entry.result

    def _stale(
        self,
        ds: Dataset[Any],
        ckey: CacheKey,
        entry: Entry,
        errors: tuple[ProviderError, ...],
        attempts: int,
        started: float,
    ) -> Result[Any]:
        self.stale_served += 1
        if self.emitter.wants[EventKind.STALE_SERVED]:
            self.emitter.emit(
                EventKind.STALE_SERVED,
                dataset=ds.name,
                key=ckey[1],
                private=ds.private,
                tenant=ckey[3],
                detail={"errors": len(errors)},
            )
        assert entry.result is not None
        return attrs.evolve(
            entry.result,
            stale=True,
            errors=tuple(errors),
            attempts=attempts,
            duration=self.clock.monotonic() - started,
        )

    def _report_failure(
        self, ds: Dataset[Any], key: str, tenant: str | None, failed: AllProvidersFailed
    ) -> None:
        if self.emitter.wants[EventKind.REQUEST_FAILED]:
            self.emitter.emit(
                EventKind.REQUEST_FAILED,
                dataset=ds.name,
                key=key,
                private=ds.private,
                tenant=tenant,
                detail={"categories": [e.category.value for e in failed.errors]},
            )

    def _revalidate(
        self,
        ds: Dataset[Any],
        key: str,
        ckey: CacheKey,
        region: str,
        tier: str,
        tenant: str | None,
        time_limit: float,
    ) -> None:
        """Refresh a stale entry in the background: one refresh per key, a bounded number."""
        if ckey in self.flights or self.refreshing >= MAX_BACKGROUND_REFRESHES:
            return
        order = self.router.order(ds.name, region)
        deadline = self.clock.monotonic() + time_limit
        self.refreshing += 1
        if self.emitter.wants[EventKind.REVALIDATE]:
            self.emitter.emit(
                EventKind.REVALIDATE, dataset=ds.name, key=key, private=ds.private, tenant=tenant
            )
        flight, _ = self.flights.start(
            ckey,
            lambda: self._load(
                ds,
                key,
                ckey,
                region,
                tier,
                tenant,
                order,
                deadline,
                self.hedge_delays.get(ds.name),
                True,
            ),
            deadline,
            _FlightContext(ds, ckey, self.clock.monotonic()),
        )
        assert flight.task is not None
        flight.task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task[Loaded]) -> None:
        self.refreshing -= 1  # a failed refresh leaves the stale entry in place

    # -- providers -----------------------------------------------------------------------------

    async def _load(
        self,
        ds: Dataset[Any],
        key: str,
        ckey: CacheKey,
        region: str,
        tier: str,
        tenant: str | None,
        order: tuple[str, ...],
        deadline: float,
        hedge_delay: float | None,
        store: bool,
    ) -> Loaded:
        request = Request(ds, key, region, tier, tenant, deadline=deadline)
        order = self.calls.select(ds.name, region, order)
        fleet = self.fleet
        lease: str | None = None
        if fleet is not None and store and fleet.single_flight:
            skey = shared_key(ds, key, region, self._pseudonym(ckey[3]))
            held = await fleet.lead_or_wait(skey, deadline)
            joined: Loaded | None = None
            if isinstance(held, bytes):
                joined = self._from_fleet(ds, ckey, decode_record(held, ds.schema))
            elif held is WAITED and self.tiers:
                # No answer came: the holder may still have written its answer to a shared
                # tier (its message lost, or it finished as the wait ended).
                found = await self.tiers.get(skey, ds, self._owner(ckey[3]))
                if found is not None and self._is_fresh(ds, found[0], tier):
                    joined = self._from_fleet(ds, ckey, found[0])
            elif isinstance(held, str):
                lease = held
            if joined is not None:
                flight = self.flights.get(ckey)
                if flight is not None:
                    flight.context.loaded = joined
                return joined
        loaded: Loaded | None = None
        try:
            if hedge_delay is not None and len(order) > 1:
                loaded = await self._walk_hedged(ds, request, order, deadline, hedge_delay)
            else:
                loaded = await self._walk(ds, request, order, deadline)
        except AllProvidersFailed as failed:
            if (
                store
                and failed.errors
                and all(e.category is ErrorCategory.NOT_FOUND for e in failed.errors)
            ):
                self._store_not_found(ds, ckey, failed.errors[0])
            raise
        finally:
            if lease is not None:
                assert fleet is not None
                fleet.finish(
                    skey,
                    lease,
                    self._record(loaded, self._owner(ckey[3])) if loaded is not None else None,
                )
        if store:
            self._store(ds, ckey, loaded)
        flight = self.flights.get(ckey)
        if flight is not None:
            flight.context.loaded = loaded
        return loaded

    def _record(self, loaded: Loaded, owner: str | None) -> bytes | None:
        """The shared-tier record of an answer of ``owner`` (what another process decodes);
        ``None`` if the value cannot be encoded (the waiting processes then ask their
        providers)."""
        fetched_wall = self.clock.time() - (self.clock.monotonic() - loaded.fetched_at)
        try:
            return encode_record(loaded.value, loaded.source, fetched_wall, owner)
        except Exception:  # noqa: BLE001 - publishing the answer must never fail the request
            return None

    def _fetched_at(self, record: Record) -> tuple[float, float]:
        """Now and a shared tier's record's fetch time, both on the monotonic clock.

        Records carry wall time (processes share no monotonic clock); a writer's clock ahead
        of ours gives age 0.
        """
        now = self.clock.monotonic()
        wall, stamp = self.clock.time(), record.fetched_at
        return now, now - (wall - stamp if wall > stamp else 0.0)

    def _is_fresh(self, ds: Dataset[Any], record: Record, tier: str) -> bool:
        """Whether a shared tier's record is fresh for ``tier`` now."""
        now, fetched_at = self._fetched_at(record)
        policy = self.policies[ds.name]
        return classify(now, fetched_at, policy.ttl[tier], policy.stale, None) is Freshness.FRESH

    def _from_fleet(self, ds: Dataset[Any], ckey: CacheKey, record: Record | None) -> Loaded | None:
        """The answer another process of the fleet fetched, kept in memory as if read from L2;
        ``None`` if there is none or it is another tenant's (a miss)."""
        if record is None:
            return None
        if record.owner != self._owner(ckey[3]):
            if self.emitter.wants[EventKind.TENANT_MISMATCH]:
                self.emitter.emit(
                    EventKind.TENANT_MISMATCH,
                    dataset=ds.name,
                    key=ckey[1],
                    private=True,
                    tenant=ckey[3],
                    detail={"fleet": self.fleet.name if self.fleet is not None else None},
                )
            return None
        self.fleet_joins += 1
        if self.emitter.wants[EventKind.DEDUPLICATED]:
            self.emitter.emit(
                EventKind.DEDUPLICATED,
                dataset=ds.name,
                key=ckey[1],
                private=ds.private,
                tenant=ckey[3],
                provider=record.source,
                detail={"fleet": True},
            )
        entry = self._promote(ds, ckey, record)
        loaded = Loaded(record.value, record.source, (), 0, (), entry.stored_at)
        loaded.entry = entry if entry.alive else None
        return loaded

    def use_policy(self, policy: SelectionPolicy) -> None:
        """Order candidates with ``policy`` from now on, and let it observe every attempt."""
        self.calls.use_policy(policy)

    async def _walk(
        self, ds: Dataset[Any], request: Request, order: tuple[str, ...], deadline: float
    ) -> Loaded:
        errors: list[ProviderError] = []
        tried: list[str] = []
        calls = 0
        provider_calls = self.calls
        slots, anyway = provider_calls.walkable(order)
        for index, slot in enumerate(slots):
            tried.append(slot.name)
            passed = provider_calls.passed_by(slot, ds.name, anyway)
            if passed is not None:
                errors.append(passed)
                continue
            before = slot.attempts
            try:
                value = await provider_calls.fetch(
                    slot, request, deadline, provider_calls.reserve(slots, index)
                )
            except ProviderError as error:
                calls += slot.attempts - before
                errors.append(error)
                if stops_failover(error):
                    break
                if len(tried) < len(order):
                    provider_calls.failed_over(slot, request, error)
                continue
            calls += slot.attempts - before
            return Loaded(
                value, slot.name, tuple(errors), calls, tuple(tried), self.clock.monotonic()
            )
        raise AllProvidersFailed(
            f"every provider failed for {ds.name} {request.key!r} in {request.region}", errors
        )

    def _calls_since(self, before: Mapping[str, int]) -> int:
        return sum(slot.attempts - before.get(slot.name, 0) for slot in self.slots.values())

    async def _walk_hedged(
        self,
        ds: Dataset[Any],
        request: Request,
        order: tuple[str, ...],
        deadline: float,
        hedge_delay: float,
    ) -> Loaded:
        """Start the next provider if the current one has not answered after ``hedge_delay``."""
        candidates, anyway = self.calls.walkable(order)
        errors: list[ProviderError] = []
        tried: list[str] = []
        calls_before = {slot.name: slot.attempts for slot in self.slots.values()}
        async with asyncio.TaskGroup() as group:
            running: dict[asyncio.Task[Any], ProviderSlot] = {}
            timer: asyncio.Task[None] | None = None
            index = 0
            try:
                while True:
                    index = self.calls.pass_by(candidates, index, ds.name, anyway, tried, errors)
                    if index < len(candidates) and (not running or timer is None or timer.done()):
                        slot = candidates[index]
                        index += 1
                        if running and self.emitter.wants[EventKind.HEDGE]:
                            self.emitter.emit(
                                EventKind.HEDGE,
                                dataset=ds.name,
                                key=request.key,
                                private=ds.private,
                                provider=slot.name,
                            )
                        tried.append(slot.name)
                        reserve = self.calls.reserve(candidates, index - 1)
                        task = group.create_task(self._outcome(slot, request, deadline, reserve))
                        running[task] = slot
                        if timer is not None:
                            timer.cancel()
                        timer = None
                        if index < len(candidates):
                            timer = group.create_task(self.clock.sleep(hedge_delay))
                    if not running:
                        break
                    waiting = set(running) | ({timer} if timer is not None else set())
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        if task is timer:
                            continue
                        slot = running.pop(task)
                        outcome = task.result()
                        if isinstance(outcome, ProviderError):
                            errors.append(outcome)
                            if stops_failover(outcome):
                                index = len(candidates)
                                for other in running:
                                    other.cancel()
                            elif timer is not None:
                                timer.cancel()
                                timer = None
                            continue
                        return Loaded(
                            outcome,
                            slot.name,
                            tuple(errors),
                            self._calls_since(calls_before),
                            tuple(tried),
                            self.clock.monotonic(),
                        )
            finally:
                for task in running:
                    task.cancel()
                if timer is not None:
                    timer.cancel()
        raise AllProvidersFailed(
            f"every provider failed for {ds.name} {request.key!r} in {request.region}", errors
        )

    async def _outcome(
        self, slot: ProviderSlot, request: Request, deadline: float, reserve: float | None
    ) -> Any:
        try:
            return await self.calls.fetch(slot, request, deadline, reserve)
        except ProviderError as error:
            return error
