"""The [`Orchestrator`][polysource.orchestrator.Orchestrator]: lifecycle and the public request
methods."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import functools
import inspect
import os
import random
from collections.abc import Awaitable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

import attrs
import cattrs

from polysource._logging import LazyLogger
from polysource.cache.codec import params_converter
from polysource.cache.memory import IndexSlot, MemoryCache
from polysource.cache.tiers import BackendContext, CacheBackend
from polysource.clock import Clock, SystemClock
from polysource.config import Config, load_config
from polysource.connections import ConnectionStore, MemoryConnectionStore
from polysource.engine import merge
from polysource.engine.attempt import ProviderSlot
from polysource.engine.composite import fetch_composite
from polysource.engine.execute import execute
from polysource.engine.fetch import FetchEngine, drop_invalidated
from polysource.engine.fleet import Fleet, FleetBackend, FleetContext
from polysource.engine.guard import Guard
from polysource.engine.route import Router
from polysource.engine.selection import SelectionPolicy
from polysource.engine.singleflight import TaskSet
from polysource.engine.telemetry import Emitter
from polysource.engine.tiers import TierChain, shared_key, shared_pattern
from polysource.errors import (
    AllProvidersFailed,
    ConfigError,
    InvalidRequest,
    PluginError,
    PolysourceError,
    UnknownDataset,
    UnknownOperation,
)
from polysource.models import (
    TIERS,
    BatchResult,
    BatchSummary,
    CachePolicy,
    CompositeResult,
    Dataset,
    MergedResult,
    Operation,
    OperationResult,
    ProviderHealth,
    ProviderInfo,
    Result,
    Stats,
)
from polysource.plugins import PluginManager, entry_point_plugins
from polysource.provider import Provider
from polysource.redaction import mask_url, redact
from polysource.registry import Registry
from polysource.resilience.ratelimit import close_shared_storage, shared_storage
from polysource.security import Keyring
from polysource.validation import (
    MAX_REGION_BYTES,
    check_key,
    check_region,
    excerpt,
    is_plain_key,
)

__all__ = ["Orchestrator"]

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
_log = LazyLogger("polysource")
_FETCH_OPTIONS = frozenset(
    {"skip_cache", "force_refresh", "allow_stale", "max_age", "deadline", "hedge"}
)


def _check_number(name: str, value: object, *, zero: bool) -> None:
    """``value`` must be ``None`` or a number > 0 (``>= 0`` when ``zero``)."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (value >= 0 if zero else value > 0)
        or (isinstance(value, int) and value > 2**53)  # a float (a timer) could not hold it
    ):
        small = isinstance(value, float) or (isinstance(value, int) and abs(value) <= 2**53)
        shown = repr(value) if small else excerpt(value)
        raise InvalidRequest(f"{name} must be a number {'>=' if zero else '>'} 0, got {shown}")


def _check_tenant(tenant: object) -> None:
    """A tenant is ``None`` or a key (connection stores index by it)."""
    if tenant is not None and not is_plain_key(tenant):
        check_key(tenant, "tenant")


def _check_input(ds: Dataset[Any], keys: Iterable[object], region: object, tenant: object) -> None:
    """Keys and region follow the key alphabet and limit; a tenant is a key too.

    Raises:
        InvalidRequest: Naming the bad value with a short escaped excerpt of it.
    """
    what = f"key of dataset {ds.name!r}"
    for key in keys:
        if not is_plain_key(key):
            check_key(key, what)
    check_region(region)
    _check_tenant(tenant)


class Orchestrator:
    """Fetches data from the providers that plugins registered, as if from one source.

    Use it as an async context manager:

        async with Orchestrator.from_config("polysource.toml") as orch:
            result = await orch.fetch("quote", "AAPL", region="US")

    Args:
        config: The configuration (defaults when ``None``).
        plugins: Plugins given in code, in addition to (or instead of) installed ones.
        clock: The time source (``SystemClock`` by default; a ``FakeClock`` in tests).
        entry_points: Whether to load installed plugins from entry points.
        environ: Environment for ``POLYSOURCE_*`` plugin switches (default ``os.environ``).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        plugins: Iterable[object] = (),
        clock: Clock | None = None,
        entry_points: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config if config is not None else Config()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._plugins = tuple(plugins)
        self._entry_points = entry_points
        self._environ = os.environ if environ is None else environ
        self._registry: Registry | None = None
        self._pm: PluginManager | None = None
        self._providers: dict[str, Provider] = {}
        self._router: Router | None = None
        self._engine: FetchEngine | None = None
        self._slots: dict[str, ProviderSlot] = {}
        self._emitter: Emitter | None = None
        self._tasks = TaskSet()
        self._rng = random.Random()
        self._index: dict[Any, dict[Any, IndexSlot]] = {}
        self._plain: dict[Any, dict[Any, IndexSlot]] = {}
        self._results: list[Any] = []  # the memory tier's result per slot
        self._referenced = bytearray()  # and its reference bit per slot
        self._now = self.clock.monotonic
        self._shared_limits: Any = None
        self._fleet: Fleet | None = None
        self._keyring = Keyring()
        self.audit: Any = None
        """The provider-attempt audit log that ``[audit] url`` names (``None`` without one),
        built by the plugin serving its scheme (``polysource[sql]``: its ``stats()`` gives
        success rate and latency per provider)."""
        self._datasets: Mapping[str, Dataset[Any]] = {}
        """The registered datasets while started (empty otherwise), for the common call."""
        self._fast_hits = 0
        self._fast_joins = 0
        self._joins: dict[Any, Any] = {}
        self._fleet_backend_made: FleetBackend | None = None
        self._tiers_made: list[CacheBackend] = []
        self._started = False
        from polysource.jobs.model import jobs_from_config
        from polysource.jobs.scheduler import Jobs

        self.jobs = Jobs(self, *jobs_from_config(self.config))
        """The scheduled jobs and key sets (list, run now, pause, resume, add)."""

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], **kwargs: Any) -> Orchestrator:
        """Build an orchestrator from a TOML file (with ``POLYSOURCE_*`` overrides)."""
        return cls(load_config(path), **kwargs)

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Orchestrator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def registry(self) -> Registry:
        """What the plugins registered (after `start()`)."""
        if self._registry is None:
            self._pm = self._plugin_manager()
            self.audit = self._audit_log(self._pm)
            self._registry = self._pm.resolve()
        return self._registry

    async def check_providers(self) -> Registry:
        """Build each enabled provider once and close it again, without starting anything else.

        Returns:
            The registry, with the plugin of each provider whose factory raised reported
            broken (what ``polysource plugins`` lists).

        Raises:
            PluginError: A plugin failed and plugins are strict, or two plugins registered
                the same name.
        """
        registry = self.registry
        assert self._pm is not None
        built: dict[str, Any] = {}
        try:
            return self._pm.build_providers(registry, self.config, self.clock, built)
        finally:
            for provider in built.values():
                with contextlib.suppress(Exception):  # a probe: closing must not hide its report
                    await provider.close()

    def _audit_log(self, pm: PluginManager) -> Any:
        """The audit log for ``[audit] url``, registered as a plugin (before the hooks are
        collected, so its ``on_event``, ``startup`` and ``shutdown`` are among them)."""
        audit_config = self.config.audit
        url = audit_config.url
        if url is None:
            return None
        scheme = url.split("://", 1)[0]
        try:
            audit = pm.pm.hook.audit_log(url=url, retention_days=audit_config.retention_days)
        except ValueError as exc:
            raise ConfigError(
                f"audit log {scheme}:// is invalid: {exc}", path="audit.url"
            ) from None
        if audit is None:
            raise ConfigError(
                f"no installed plugin serves audit logs at {scheme}:// "
                "(polysource[sql] serves sqlite:// and postgresql://)",
                path="audit.url",
            )
        pm.register(audit, "audit")
        return audit

    def _plugin_manager(self) -> PluginManager:
        plugins_config = self.config.plugins
        telemetry = self.config.telemetry
        extra: list[object] = []
        if telemetry.webhook_url:
            from polysource.webhook import WebhookSink

            extra.append(
                WebhookSink(
                    telemetry.webhook_url,
                    self.clock,
                    timeout=telemetry.webhook_timeout,
                    retries=telemetry.webhook_retries,
                )
            )
        return PluginManager(
            plugins=(*self._plugins, *extra),
            block=plugins_config.block,
            only=plugins_config.only,
            strict=plugins_config.strict or None,
            entry_points=self._entry_points,
            environ=self._environ,
        )

    async def start(self) -> None:
        """Load plugins, build providers and the pipeline, run ``startup`` hooks.

        A start that fails undoes what it did before raising: ``shutdown`` hooks run if
        ``startup`` hooks had begun, and background tasks, the fleet, cache tiers, the shared
        rate-limit storage and the providers built so far are closed.
        """
        if self._started:
            return
        try:
            await self._start()
        except BaseException:
            try:
                if self._started:
                    await self.close()
                else:
                    await self._release()
            except Exception as exc:  # noqa: BLE001 - the start's own error is the one to raise
                _log.error("start_cleanup_failed", error=f"{type(exc).__name__}: {exc}")
            raise

    async def _start(self) -> None:
        registry = self.registry
        assert self._pm is not None
        self._registry = registry = self._pm.build_providers(
            registry, self.config, self.clock, self._providers
        )
        self._check_names(registry)
        for report in registry.broken:
            _log.warning(
                "plugin_failed",
                plugin=report.name,
                distribution=report.distribution,
                version=report.version,
                error=report.error,
            )
        keyring = self._keyring = self._keyring_for(registry)
        sinks = list(registry.event_sinks)
        if self.config.telemetry.log:
            from polysource._builtins import LogSink

            sinks.append(LogSink(self.config.telemetry.log_level).on_event)
        emitter = Emitter(sinks, self.clock, keyring)
        infos: dict[str, ProviderInfo] = {}
        regions: dict[str, Mapping[str, int]] = {}
        fleet_backend = self._fleet_backend_made = self._fleet_backend(registry)
        shared_limits = self._shared_limits = self._shared_limit_storage(
            fleet_backend, self._limited(registry)
        )
        memory = None
        if any(url.startswith("memory://") for url in self.config.cache.tiers):
            memory = MemoryCache(self.config.cache.max_entries, self.config.cache.max_bytes)
            self._index = memory.index
            self._plain = memory.plain
            self._results = memory.results
            self._referenced = memory.referenced
        fleet = (
            self._make_fleet(fleet_backend, emitter, keyring, memory)
            if fleet_backend is not None
            else None
        )
        # A storage of its own is bounded and detached by a guard of its own; the fleet's
        # storage by the fleet itself.
        limits_guard: Guard | None = (
            Guard(
                "rate_limits",
                self.clock,
                emitter,
                timeout=self.config.fleet.timeout,
                cooldown=self.config.fleet.cooldown,
            )
            if shared_limits is not None and self.config.rate_limit_storage
            else fleet
            if shared_limits is not None
            else None
        )
        slots: dict[str, ProviderSlot] = {}
        for name, provider in self._providers.items():
            entry = registry.providers[name]
            provider_config = self.config.provider(name)
            slots[name] = ProviderSlot(
                provider,
                entry.info,
                provider_config,
                self.clock,
                emitter,
                self._rng,
                shared_limits,
                limits_guard,
                fleet,
            )
            infos[name] = entry.info
            regions[name] = provider_config.regions or entry.info.regions
        self._router = Router(infos, self.config.routing, registry.failover_hook, regions)
        store = self._plugin_store()
        self.connections: ConnectionStore = store if store is not None else MemoryConnectionStore()
        self._engine = FetchEngine(
            clock=self.clock,
            router=self._router,
            slots=slots,
            policies=self._policies(registry),
            hedge_delays={n: c.hedge_delay for n, c in self.config.datasets.items()},
            memory=memory,
            emitter=emitter,
            tasks=self._tasks,
            keyring=keyring,
            store=self.connections,
            tiers=self._shared_tiers(registry, emitter),
            policy=self._selection_policy(registry),
            fleet=fleet,
        )
        if fleet is not None:
            self._fleet = fleet
            fleet.start(slots)
        self._slots = slots
        self._emitter = emitter
        self._joins = self._engine.joins
        self._now = self.clock.monotonic
        self._datasets = registry.datasets
        self._started = True
        for hook in registry.startup_hooks:
            outcome = hook(orchestrator=self)
            if inspect.isawaitable(outcome):
                await outcome
        await self.jobs.start(self._pm.pm.hook.job_runner(orchestrator=self))

    def _check_names(self, registry: Registry) -> None:
        """Every provider, dataset and operation the config names is registered.

        A provider of an installed plugin that did not load (blocked, not selected, broken)
        is let through: its plugin is reported on its own.

        Raises:
            ConfigError: Naming the key and the nearest registered name.
        """
        assert self._pm is not None
        pm = self._pm.pm
        absent = {ep.name for ep in entry_point_plugins() if not pm.has_plugin(ep.name)}
        absent |= {report.name for report in registry.broken}
        providers = sorted(registry.providers)
        for name in self.config.providers:
            if name not in registry.providers and name not in absent:
                raise _unknown("provider", name, providers, f"providers.{name}")
        targets = sorted({*registry.datasets, *registry.operations})
        for target, regions in self.config.routing.items():
            if target not in targets:
                raise _unknown("dataset or operation", target, targets, f"routing.{target}")
            for region, names in regions.items():
                for name in names:
                    if name not in registry.providers and name not in absent:
                        path = f"routing.{target}.{region}"
                        raise _unknown("provider", name, providers, path)

    def _keyring_for(self, registry: Registry) -> Keyring:
        """The keyring of ``[security] secret``; without one, this process's own.

        Raises:
            ConfigError: The secret cannot be read or is too short; or there is none while a
                fleet is configured (its messages could not be signed, nor its answers tied
                to a tenant), or while a shared cache tier would hold a private dataset.
        """
        keyring = Keyring.from_secret(self.config.security.secret)
        if keyring.keyed:
            return keyring
        how = (
            'set [security] secret = { env = "POLYSOURCE_SECRET" } (at least 32 random '
            "characters, the same in every process)"
        )
        if self.config.fleet.url is not None:
            raise ConfigError(
                f"a fleet signs its messages and ties its answers to tenants with the "
                f"deployment secret; {how}",
                path="security.secret",
            )
        if not any(not url.startswith("memory://") for url in self.config.cache.tiers):
            return keyring
        served = {
            name
            for provider, entry in registry.providers.items()
            if self.config.provider(provider).enabled
            for name in entry.info.datasets
        }
        policies = self._policies(registry)
        private = sorted(
            name
            for name, dataset in registry.datasets.items()
            if dataset.private and policies[name].cacheable and name in served
        )
        if private:
            raise ConfigError(
                f"the shared cache tiers would hold the private datasets {', '.join(private)}, "
                f"isolated by tenant with the deployment secret; {how}, or set "
                f"datasets.<name>.cacheable = false for them",
                path="security.secret",
            )
        return keyring

    def _limited(self, registry: Registry) -> list[str]:
        """The enabled providers with a rate limit or a cost budget."""
        return [
            name
            for name, entry in registry.providers.items()
            if (config := self.config.provider(name)).enabled
            and (config.budget or (config.rate_limits or entry.info.rate_limits))
        ]

    def _shared_limit_storage(self, fleet: FleetBackend | None, limited: list[str]) -> Any:
        """The ``limits`` storage shared by the fleet: ``rate_limit_storage``, else the fleet's.

        Raises:
            ConfigError: The fleet is to share rate limits and budgets that ``limited``
                providers have, but its servers cannot hold them.
        """
        storage = self.config.rate_limit_storage
        prefix = self.config.rate_limit_prefix
        if storage is None and fleet is not None and self.config.fleet.rate_limits:
            storage, prefix = fleet.rate_limit_storage() or (None, prefix)
            if storage is None:
                if limited:
                    raise ConfigError(
                        f"the fleet's servers cannot hold the rate limits and budgets of "
                        f"{', '.join(sorted(limited))}; set rate_limit_storage, or "
                        "fleet.rate_limits = false to keep them per process",
                        path="fleet.url",
                    )
                return None
            try:
                return shared_storage(storage, prefix, self.config.fleet.timeout)
            except Exception as exc:  # noqa: BLE001 - the URI holds the password: not shown
                raise ConfigError(
                    f"the fleet's servers cannot hold rate limits ({type(exc).__name__}); "
                    "set rate_limit_storage",
                    path="fleet.url",
                ) from None
        if not storage:
            return None
        try:
            return shared_storage(storage, prefix, self.config.fleet.timeout)
        except Exception as exc:  # noqa: BLE001 - limits raises several kinds for a bad URI
            shown = mask_url(storage)  # limits quotes the URI, password included
            raise ConfigError(
                redact(str(exc).replace(storage, shown)), path="rate_limit_storage"
            ) from None

    def _make_fleet(
        self,
        backend: FleetBackend,
        emitter: Emitter,
        keyring: Keyring,
        memory: MemoryCache | None,
    ) -> Fleet:
        """The fleet over ``backend``; its invalidations and rejoins reach ``memory``."""
        config = self.config.fleet
        return Fleet(
            backend,
            self.clock,
            emitter,
            self._tasks,
            timeout=config.timeout,
            cooldown=config.cooldown,
            lease=config.lease,
            failure_window=config.failure_window,
            breakers=config.breakers,
            single_flight=config.single_flight,
            keyring=keyring,
            on_invalidate=(
                functools.partial(drop_invalidated, memory, keyring) if memory is not None else None
            ),
            on_rejoin=memory.clear if memory is not None else None,
        )

    def _fleet_backend(self, registry: Registry) -> FleetBackend | None:
        """The fleet backend for ``[fleet] url``, from the plugin claiming its scheme."""
        url = self.config.fleet.url
        if url is None:
            return None
        scheme = url.split("://", 1)[0]
        factory = registry.fleet_backends.get(scheme)
        if factory is None:
            known = ", ".join(sorted(registry.fleet_backends)) or "none installed"
            raise ConfigError(
                f"no installed plugin serves fleet {scheme}://; schemes: {known}", path="fleet.url"
            )
        try:
            context = FleetContext(self.clock, self.config.fleet.timeout)
            backend: FleetBackend = factory(url, context)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"fleet {scheme}:// is invalid: {exc}", path="fleet.url") from None
        return backend

    def _shared_tiers(self, registry: Registry, emitter: Emitter) -> TierChain | None:
        """Build the cache tiers below L1 from ``[cache] tiers`` (their order is theirs)."""
        cache = self.config.cache
        backends = self._tiers_made = []  # closed by _release if a later one is invalid
        context = BackendContext(self.clock, cache.tier_timeout)
        for position, url in enumerate(cache.tiers):
            scheme = url.split("://", 1)[0]
            if scheme == "memory":
                continue
            factory = registry.cache_backends.get(scheme)
            if factory is None:
                known = ", ".join(sorted({"memory", *registry.cache_backends}))
                raise ConfigError(
                    f"no installed plugin serves cache tier {scheme}://; schemes: {known}",
                    path=f"cache.tiers[{position}]",
                )
            try:
                backends.append(factory(url, context))
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"cache tier {scheme}:// is invalid: {exc}", path=f"cache.tiers[{position}]"
                ) from None
        if not backends:
            return None
        return TierChain(
            backends,
            self.clock,
            emitter,
            self._tasks,
            timeout=cache.tier_timeout,
            cooldown=cache.tier_cooldown,
        )

    def _selection_policy(self, registry: Registry) -> SelectionPolicy:
        name = self.config.selection
        factory = registry.selection_policies.get(name)
        if factory is None:
            known = ", ".join(sorted(registry.selection_policies))
            raise ConfigError(
                f"unknown selection policy {name!r}; policies: {known}", path="selection"
            )
        policy = factory(self.config.selection_options)
        if not isinstance(policy, SelectionPolicy):
            raise PluginError(f"selection policy {name!r} has no order/observe methods")
        return policy

    def _plugin_store(self) -> ConnectionStore | None:
        hook = self._pm.pm.hook.connection_store if self._pm is not None else None
        if hook is None or not hook.get_hookimpls():
            return None
        store = hook(orchestrator=self)
        if store is not None and not isinstance(store, ConnectionStore):
            raise PluginError(f"connection_store returned {store!r}, not a ConnectionStore")
        return store

    def _policies(self, registry: Registry) -> dict[str, CachePolicy]:
        out: dict[str, CachePolicy] = {}
        for name, dataset in registry.datasets.items():
            policy = dataset.policy
            override = self.config.datasets.get(name)
            if override is not None:
                changes: dict[str, Any] = {
                    field: getattr(override, field)
                    for field in ("stale", "cacheable", "negative_ttl", "revalidate")
                    if getattr(override, field) is not None
                }
                if override.ttl is not None:
                    changes["ttl"] = {**policy.ttl, **override.ttl}
                policy = attrs.evolve(policy, **changes)
            out[name] = policy
        unknown = sorted(set(self.config.datasets) - set(registry.datasets))
        if unknown:
            raise ConfigError(
                f"unknown dataset {unknown[0]!r}; known: {', '.join(sorted(registry.datasets))}",
                path=f"datasets.{unknown[0]}",
            )
        return out

    async def close(self) -> None:
        """Run ``shutdown`` hooks, cancel background work and close providers."""
        if not self._started:
            return
        self._started = False
        await self.jobs.close()
        self._datasets = {}
        self._index = {}
        self._plain = {}
        self._results = []
        self._referenced = bytearray()
        for hook in self.registry.shutdown_hooks:
            try:
                outcome = hook(orchestrator=self)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:  # noqa: BLE001 - every plugin gets its shutdown
                _log.error("shutdown_hook_failed", error=f"{type(exc).__name__}: {exc}")
        await self._release()

    async def _release(self) -> None:
        """Close what a start made: fleet, background tasks, tiers, storage and providers."""
        if self._fleet is not None:
            await self._fleet.close()
            self._fleet = None
        elif self._fleet_backend_made is not None:  # made, but the start failed before the fleet
            with contextlib.suppress(Exception):
                await self._fleet_backend_made.close()
        self._fleet_backend_made = None
        await self._tasks.close()
        if self._engine is not None and self._engine.tiers:
            await self._engine.tiers.close()
        else:  # made, but the start failed before the chain was built
            for backend in self._tiers_made:
                with contextlib.suppress(Exception):
                    await backend.close()
        self._tiers_made = []
        if self._shared_limits is not None:
            with contextlib.suppress(Exception):  # closing a dead store must not fail shutdown
                await close_shared_storage(self._shared_limits)
            self._shared_limits = None
        for provider in self._providers.values():
            try:
                await provider.close()
            except Exception as exc:  # noqa: BLE001 - close every provider whatever happens
                _log.error("provider_close_failed", error=f"{type(exc).__name__}: {exc}")
        self._providers.clear()

    # -- routing -------------------------------------------------------------------------------

    def dataset(self, dataset: Dataset[T] | str) -> Dataset[Any]:
        """The registered dataset for a name or handle; raises ``UnknownDataset``."""
        name = dataset if isinstance(dataset, str) else getattr(dataset, "name", None)
        check_key(name, "dataset" if isinstance(dataset, str) else "dataset (a name or Dataset)")
        assert isinstance(name, str)
        found = self.registry.datasets.get(name)
        if found is None:
            raise UnknownDataset(name, list(self.registry.datasets))
        return found

    def failover_order(
        self, target: Dataset[Any] | Operation[Any, Any] | str, region: str | None = None
    ) -> tuple[str, ...]:
        """The enabled providers a request for a dataset or an operation in ``region`` tries,
        in order (before the selection policy reorders them per request).

        Raises:
            UnknownDataset: ``target`` names neither a dataset nor an operation.
            UnknownRegion: No enabled provider serves it in the region.
        """
        self._require_started()
        assert self._router is not None
        name = target if isinstance(target, str) else getattr(target, "name", None)
        if isinstance(name, str) and name in self.registry.operations:
            check_key(name, "operation")
        else:
            name = self.dataset(target).name  # type: ignore[arg-type] # checked by dataset()
        return self._router.order(name, region or self.config.region)

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run ``coro`` as a task owned by the orchestrator: cancelled and awaited on close.

        For plugins' background work (``startup`` is the place to call it).
        """
        return self._tasks.spawn(coro, name=name)

    def _check_request(
        self,
        ds: Dataset[Any],
        keys: Sequence[object],
        tenant: object,
        tier: object,
        deadline: object = None,
        *,
        region: object = None,
        **bounds: object,
    ) -> str:
        """Check what every request method takes; return the tier to use.

        The one place a request's input is validated (keys, region, tenant, tier and
        numbers), before any cache tier, fleet or provider is asked. ``bounds`` are other
        non-negative numbers (``max_age``, ``hedge``).

        Raises:
            InvalidRequest: A key or region outside the key alphabet and length limit
                ([`polysource.validation`][polysource.validation]), a tenant that is not a key, a
                private
                dataset without a tenant, an unknown tier, a deadline that is not > 0, a
                bound that is not >= 0.
        """
        _check_input(ds, keys, region, tenant)
        if ds.private and not tenant:
            raise InvalidRequest(f"dataset {ds.name!r} is private: a tenant is required")
        resolved = self._tier(tier)
        _check_number("deadline", deadline, zero=False)
        for name, value in bounds.items():
            _check_number(name, value, zero=True)
        return resolved

    def _tier(self, tier: object) -> str:
        """The tier to use for ``tier`` (``None``: the configured one)."""
        resolved = self.config.tier if tier is None else tier
        if not isinstance(resolved, str) or resolved not in TIERS:
            raise InvalidRequest(f"unknown tier {excerpt(resolved)}; tiers are {', '.join(TIERS)}")
        return resolved

    def _require_started(self) -> None:
        if not self._started:
            raise PolysourceError("the orchestrator is not started; use 'async with'")

    # -- requests ------------------------------------------------------------------------------

    @overload
    async def fetch(
        self,
        dataset: Dataset[T],
        key: str,
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        skip_cache: bool = ...,
        force_refresh: bool = ...,
        allow_stale: bool = ...,
        max_age: float | None = ...,
        deadline: float | None = ...,
        hedge: float | None = ...,
    ) -> Result[T]: ...
    @overload
    async def fetch(
        self,
        dataset: str,
        key: str,
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        skip_cache: bool = ...,
        force_refresh: bool = ...,
        allow_stale: bool = ...,
        max_age: float | None = ...,
        deadline: float | None = ...,
        hedge: float | None = ...,
    ) -> Result[Any]: ...

    async def fetch(
        self,
        dataset: Dataset[Any] | str,
        key: str,
        *,
        region: str | None = None,
        tier: str | None = None,
        tenant: str | None = None,
        **options: Any,
    ) -> Result[Any]:
        """Fetch one value: from cache if fresh, else from the providers in failover order.

        Args:
            dataset: A dataset handle (``QUOTE``) or name (``"quote"``).
            key: The key (``"AAPL"``); normalised by the dataset.
            region: Routing region (default from config).
            tier: Caller tier, which picks cache TTLs (default from config).
            tenant: Who asks; required for private datasets, which are cached per tenant.
            skip_cache: Neither read nor write the cache.
            force_refresh: Ask the providers even if the cache is fresh (the answer is cached).
            allow_stale: Whether a stale cached value may be returned when providers fail.
            max_age: Treat cached values older than this many seconds as not fresh.
            deadline: Seconds the whole request may take (default from config).
            hedge: Hedge delay in seconds: start the next provider if the current one has not
                answered by then (default from the dataset's config; off when unset).

        Raises:
            UnknownDataset: No such dataset.
            UnknownRegion: No provider serves it in the region.
            InvalidRequest: Bad key, tier, option or a private dataset without a tenant.
            AllProvidersFailed: Every provider failed and no stale value could be served.
        """
        # The hit path: dict lookups and one clock read; no task, lock, timeout or event.
        # (Options are taken as **options because each keyword-only parameter with a default
        # costs the hit path more than the empty dict does; the overloads above type them.)
        if not options:
            if region is None and tier is None and tenant is None:
                try:
                    table = self._plain.get(dataset)
                    slot = table.get(key) if table is not None else None
                except TypeError:  # an unhashable argument: the slow path reports it
                    slot = None
            else:
                try:
                    table = self._index.get(dataset)
                    slot = table.get((key, region, tier, tenant)) if table is not None else None
                except TypeError:  # an unhashable argument: the slow path reports it
                    slot = None
            if slot is not None:
                number, fresh_until = slot
                if self._now() < fresh_until:
                    self._referenced[number] = 1
                    self._fast_hits += 1
                    return self._results[number]  # type: ignore[no-any-return]
            elif self._joins:
                # Not cached: an identical call in flight is joined at once.
                try:
                    flight = self._joins.get((dataset, key, region, tier, tenant))
                except TypeError:
                    flight = None
                if flight is not None:
                    # Join the identical call in flight (see engine.singleflight for why a
                    # CancelledError we did not ask for means "wait again").
                    self._fast_joins += 1
                    future = flight.future or flight.shared_future()
                    while True:
                        try:
                            await future
                        except asyncio.CancelledError:
                            task = asyncio.current_task()
                            if task is None or task.cancelling() or flight.abandoned():
                                raise
                            future = flight.shared_future()  # a fresh one if it was cancelled
                            continue
                        except AllProvidersFailed as failed:
                            return self._engine.stale_for(flight, failed)  # type: ignore[union-attr]
                        return flight.shared  # type: ignore[no-any-return]
        if not options:
            # The common call (an L1 miss, an L2 hit): a registered plain dataset, a plain
            # key, no options. Anything else takes the general path, which says what is wrong.
            ds = self._datasets.get(
                dataset if isinstance(dataset, str) else getattr(dataset, "name", "")
            )
            if (
                ds is not None
                and not ds.is_composite
                and (tenant or not ds.private)
                and (tier is None or tier in TIERS)
                and is_plain_key(key)
                and (region is None or (is_plain_key(region) and len(region) <= MAX_REGION_BYTES))
                and (tenant is None or is_plain_key(tenant))
            ):
                assert self._engine is not None
                return await self._engine.fetch(
                    ds,
                    key,
                    region or self.config.region,
                    tier or self.config.tier,
                    tenant,
                    time_limit=self.config.deadline,
                    signature=(dataset, key, region, tier, tenant),
                    joinable=True,
                )
        return await self._fetch(dataset, key, region, tier, tenant, options)

    async def _fetch(
        self,
        dataset: Dataset[Any] | str,
        key: str,
        region: str | None,
        tier: str | None,
        tenant: str | None,
        options: dict[str, Any],
    ) -> Result[Any]:
        if options:
            unknown = set(options) - _FETCH_OPTIONS
            if unknown:
                raise InvalidRequest(
                    f"unknown fetch option(s) {', '.join(sorted(unknown))}; options: "
                    f"{', '.join(sorted(_FETCH_OPTIONS))}"
                )
            skip_cache = bool(options.get("skip_cache", False))
            force_refresh = bool(options.get("force_refresh", False))
            allow_stale = bool(options.get("allow_stale", True))
            max_age = options.get("max_age")
            deadline = options.get("deadline")
            hedge = options.get("hedge")
        else:  # the common call (an L1 miss, an L2 hit): nothing to read or bound-check
            skip_cache = force_refresh = False
            allow_stale = True
            max_age = deadline = hedge = None
        self._require_started()
        assert self._engine is not None
        ds = self.dataset(dataset)
        if ds.is_composite:
            raise InvalidRequest(f"dataset {ds.name!r} is composite; use fetch_composite")
        resolved_tier = (
            self._check_request(
                ds, (key,), tenant, tier, deadline, region=region, max_age=max_age, hedge=hedge
            )
            if options
            else self._check_request(ds, (key,), tenant, tier, region=region)
        )
        plain = not (skip_cache or force_refresh or max_age is not None)
        return await self._engine.fetch(
            ds,
            key,
            region or self.config.region,
            resolved_tier,
            tenant,
            skip_cache=skip_cache,
            force_refresh=force_refresh,
            allow_stale=allow_stale,
            max_age=max_age,
            time_limit=deadline if deadline is not None else self.config.deadline,
            hedge=hedge,
            signature=(dataset, key, region, tier, tenant) if plain else None,
            joinable=not options,
        )

    @overload
    async def fetch_many(
        self,
        dataset: Dataset[T],
        keys: Iterable[str],
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        skip_cache: bool = ...,
        allow_stale: bool = ...,
        deadline: float | None = ...,
    ) -> BatchResult[T]: ...
    @overload
    async def fetch_many(
        self,
        dataset: str,
        keys: Iterable[str],
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        skip_cache: bool = ...,
        allow_stale: bool = ...,
        deadline: float | None = ...,
    ) -> BatchResult[Any]: ...

    async def fetch_many(
        self,
        dataset: Dataset[T] | str,
        keys: Iterable[str],
        *,
        region: str | None = None,
        tier: str | None = None,
        tenant: str | None = None,
        skip_cache: bool = False,
        allow_stale: bool = True,
        deadline: float | None = None,
    ) -> BatchResult[T]:
        """Fetch many keys: cache first, then the misses in provider batches.

        Misses are grouped into batches of at most the provider's ``max_batch_size``, run
        concurrently (at most ``batch_concurrency`` at a time); keys a batch did not return
        fail over per key to the next provider. Keys already being fetched join that call.

        Args:
            dataset: A dataset handle or name.
            keys: The keys; results and errors are keyed by them as given.
            region: Routing region (default from config).
            tier: Caller tier (default from config).
            tenant: Required for private datasets.
            skip_cache: Neither read nor write the cache.
            allow_stale: Serve a stale cached value for keys every provider failed.
            deadline: Seconds the whole call may take (default from config).

        Returns:
            A ``BatchResult``: ``results`` and ``errors`` per key and a ``summary``.

        Raises:
            InvalidRequest: No keys, a bad key, or a private dataset without a tenant.
            UnknownDataset: No such dataset.
            UnknownRegion: No provider serves it in the region.
        """
        keys = _key_list(keys)
        cached: dict[str, Result[Any]] = {}
        if (
            region is None
            and tier is None
            and tenant is None
            and deadline is None
            and not skip_cache
        ):
            # The hit path of fetch, once per key: fresh keys never reach the engine.
            try:
                table = self._plain.get(dataset)
            except TypeError:  # an unhashable dataset: the slow path reports it
                table = None
            if table is not None:
                started = self._now()
                misses: list[str] = []
                in_slots, referenced = self._results, self._referenced
                try:
                    for key in keys:
                        slot = table.get(key)
                        if slot is not None and started < slot[1]:
                            referenced[slot[0]] = 1
                            cached[key] = in_slots[slot[0]]
                        else:
                            misses.append(key)
                except TypeError:  # an unhashable key: the slow path reports it
                    cached.clear()
                else:
                    self._fast_hits += len(cached)
                    if not misses:
                        count = len(cached)
                        summary = BatchSummary(
                            len(keys), count, 0, count, 0, 0, self._now() - started
                        )
                        return BatchResult(cached, {}, summary)
                    keys_all, keys = keys, misses
        self._require_started()
        assert self._engine is not None
        ds = self.dataset(dataset)
        if not keys:
            raise InvalidRequest(f"fetch_many of {ds.name!r} needs at least one key")
        resolved_tier = self._check_request(ds, keys, tenant, tier, deadline, region=region)
        batch = await self._engine.fetch_many(
            ds,
            keys,
            region or self.config.region,
            resolved_tier,
            tenant,
            skip_cache=skip_cache,
            allow_stale=allow_stale,
            time_limit=deadline if deadline is not None else self.config.deadline,
            concurrency=self.config.batch_concurrency,
            handle=dataset if region is None and tier is None and tenant is None else None,
        )
        if not cached:
            return batch
        results = {**cached, **batch.results}
        summary = attrs.evolve(
            batch.summary,
            total=len(keys_all),
            successful=len(results),
            cached=batch.summary.cached + len(cached),
        )
        return BatchResult(
            {key: results[key] for key in keys_all if key in results}, batch.errors, summary
        )

    @overload
    async def fetch_merged(
        self,
        dataset: Dataset[T],
        key: str,
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        strategy: str | None = ...,
        min_providers: int = ...,
        providers: Sequence[str] | None = ...,
        field_priority: Mapping[str, Sequence[str]] | None = ...,
        tolerance: float | None = ...,
        deadline: float | None = ...,
    ) -> MergedResult[T]: ...
    @overload
    async def fetch_merged(
        self,
        dataset: str,
        key: str,
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        strategy: str | None = ...,
        min_providers: int = ...,
        providers: Sequence[str] | None = ...,
        field_priority: Mapping[str, Sequence[str]] | None = ...,
        tolerance: float | None = ...,
        deadline: float | None = ...,
    ) -> MergedResult[Any]: ...

    async def fetch_merged(
        self,
        dataset: Dataset[Any] | str,
        key: str,
        *,
        region: str | None = None,
        tier: str | None = None,
        tenant: str | None = None,
        strategy: str | None = None,
        min_providers: int = 1,
        providers: Sequence[str] | None = None,
        field_priority: Mapping[str, Sequence[str]] | None = None,
        tolerance: float | None = None,
        deadline: float | None = None,
    ) -> MergedResult[Any]:
        """Ask several providers in parallel and combine their answers with a merge strategy.

        Every candidate provider of the dataset in the region is asked at once, each through
        the same breakers, rate limits, budgets, retries and timeouts as ``fetch``. Merged
        results are neither read from nor written to the cache.

        Args:
            dataset: A dataset handle (``FUNDAMENTALS``) or name (``"fundamentals"``).
            key: The key (``"AAPL"``); normalised by the dataset.
            region: Routing region (default from config).
            tier: Caller tier (default from config).
            tenant: Who asks; required for private datasets.
            strategy: A registered merge strategy (``first``, ``field_priority``, ``median``,
                ``union``, ``consensus`` or a plugin's); default ``[datasets.NAME] merge`` from
                config, else the dataset's own ``merge``.
            min_providers: Fewest answers to merge, from 1 to the number of candidates.
            providers: Ask only these providers, in this order (default: the failover order).
            field_priority: For ``field_priority``: field name to providers, most trusted first.
            tolerance: For ``consensus``: relative difference under which numbers agree
                (default 0.01).
            deadline: Seconds the whole request may take (default from config).

        Raises:
            UnknownDataset: No such dataset.
            UnknownRegion: No provider serves it in the region.
            InvalidRequest: Bad key, tier, deadline, strategy, field, provider or
                ``min_providers``; a private dataset without a tenant.
            AllProvidersFailed: Fewer than ``min_providers`` answered, or a provider rejected
                the request as invalid.
        """
        self._require_started()
        assert self._engine is not None
        ds = self.dataset(dataset)
        resolved_tier = self._check_request(ds, [key], tenant, tier, deadline, region=region)
        if strategy is None:
            configured = self.config.datasets.get(ds.name)
            strategy = configured.merge if configured is not None else None
        return await merge.fetch_merged(
            self._engine,
            ds,
            key,
            region or self.config.region,
            resolved_tier,
            tenant,
            strategy=strategy,
            strategies=self.registry.merge_strategies,
            min_providers=min_providers,
            providers=providers,
            options=merge.MergeOptions(
                field_priority=field_priority or {},
                tolerance=merge.DEFAULT_TOLERANCE if tolerance is None else tolerance,
            ),
            time_limit=deadline if deadline is not None else self.config.deadline,
        )

    @overload
    async def fetch_composite(
        self,
        dataset: Dataset[T],
        key: str,
        *,
        parts: Sequence[str] | None = ...,
        min_parts: int = ...,
        fail_fast: bool = ...,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        deadline: float | None = ...,
    ) -> CompositeResult[T]: ...
    @overload
    async def fetch_composite(
        self,
        dataset: str,
        key: str,
        *,
        parts: Sequence[str] | None = ...,
        min_parts: int = ...,
        fail_fast: bool = ...,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        deadline: float | None = ...,
    ) -> CompositeResult[Any]: ...

    async def fetch_composite(
        self,
        dataset: Dataset[T] | str,
        key: str,
        *,
        parts: Sequence[str] | None = None,
        min_parts: int = 1,
        fail_fast: bool = False,
        region: str | None = None,
        tier: str | None = None,
        tenant: str | None = None,
        deadline: float | None = None,
    ) -> CompositeResult[T]:
        """Fetch a composite dataset: its parts in parallel, each with its own failover.

        Args:
            dataset: A composite dataset (``WEAPON_PROFILE``) or its name.
            key: The key, normalised by the composite dataset.
            parts: Only these parts (``["meta"]``); default all.
            min_parts: Fewest parts that must answer.
            fail_fast: Stop at the first failed part and raise.
            region: Routing region.
            tier: Caller tier.
            tenant: Who asks (private parts need one).
            deadline: Seconds each part may take.

        Raises:
            InvalidRequest: Not a composite dataset, unknown parts, bad ``min_parts``.
            AllProvidersFailed: Too few parts answered (or one failed with ``fail_fast``).
        """
        self._require_started()
        ds = self.dataset(dataset)
        if not ds.is_composite:
            raise InvalidRequest(f"dataset {ds.name!r} is not composite; use fetch")
        self._check_request(ds, [key], tenant, tier, deadline, region=region)
        options: dict[str, Any] = {} if deadline is None else {"deadline": deadline}

        def fetch_part(part: str, canonical: str) -> Awaitable[Result[Any]]:
            return self.fetch(part, canonical, region=region, tier=tier, tenant=tenant, **options)

        return await fetch_composite(
            ds,
            ds.normalize_key(key),
            fetch_part,
            self.clock,
            parts=parts,
            min_parts=min_parts,
            fail_fast=fail_fast,
        )

    @overload
    async def execute(
        self,
        operation: Operation[P, R],
        params: P | Mapping[str, Any] | None = ...,
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        prefer: str | None = ...,
        deadline: float | None = ...,
    ) -> OperationResult[R]: ...
    @overload
    async def execute(
        self,
        operation: str,
        params: Any = ...,
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
        prefer: str | None = ...,
        deadline: float | None = ...,
    ) -> OperationResult[Any]: ...

    async def execute(
        self,
        operation: Operation[P, R] | str,
        params: P | Mapping[str, Any] | None = None,
        *,
        region: str | None = None,
        tier: str | None = None,
        tenant: str | None = None,
        prefer: str | None = None,
        deadline: float | None = None,
    ) -> OperationResult[R]:
        """Run an operation (``create_link``, ``sync_transactions``, ...) with failover.

        Reads of a tenant's data go only to providers where the tenant has a connection
        (others are reported as ``auth``, "not linked"); ``create_link`` fails over freely; a
        non-idempotent operation is neither retried nor failed over once its call may have
        reached a provider.

        Args:
            operation: An operation handle (``SYNC_TRANSACTIONS``) or name.
            params: Its parameters: an instance of the operation's params class, a mapping
                structured into it, or ``None`` for the defaults.
            region: Routing region (default from config).
            tier: Caller tier.
            tenant: Who acts; required for private operations.
            prefer: A provider to try first.
            deadline: Seconds the whole operation may take, pages included.

        Raises:
            UnknownOperation: No such operation.
            UnknownRegion: No provider serves it in the region.
            InvalidRequest: Bad parameters, unknown ``prefer``, or a private operation without
                a tenant.
            AllProvidersFailed: Every provider failed.
        """
        self._require_started()
        assert self._router is not None
        assert self._engine is not None
        name = operation if isinstance(operation, str) else getattr(operation, "name", None)
        check_key(name, "operation" if isinstance(operation, str) else "operation (a name)")
        assert isinstance(name, str)
        op = self.registry.operations.get(name)
        if op is None:
            raise UnknownOperation(name, list(self.registry.operations))
        check_region(region)
        _check_tenant(tenant)
        if op.private and not tenant:
            raise InvalidRequest(
                f"operation {name!r} acts on a tenant's data: a tenant is required"
            )
        if prefer is not None and (not isinstance(prefer, str) or prefer not in self._slots):
            known = ", ".join(sorted(self._slots))
            raise InvalidRequest(
                f"unknown provider {excerpt(prefer)} in prefer; providers: {known}"
            )
        _check_number("deadline", deadline, zero=False)
        resolved_tier = self._tier(tier)
        structured = self._params(op, params)
        return await execute(
            operation=op,
            params=structured,
            engine=self._engine,
            store=self.connections,
            region=region or self.config.region,
            tier=resolved_tier,
            tenant=tenant,
            prefer=prefer,
            time_limit=deadline if deadline is not None else self.config.deadline,
        )

    @staticmethod
    def _params(op: Operation[Any, Any], params: Any) -> Any:
        if params is None:
            params = {}
        if isinstance(params, op.params):
            _check_params(op, params)
            return params
        if not isinstance(params, Mapping):
            raise InvalidRequest(
                f"params of {op.name!r} must be {op.params.__name__} or a mapping, "
                f"not {type(params).__name__}"
            )
        try:
            structured = params_converter.structure(dict(params), op.params)
        except Exception as exc:  # noqa: BLE001 - any structuring failure is the caller's input
            messages = (
                cattrs.transform_error(exc) if isinstance(exc, ExceptionGroup) else [str(exc)]
            )
            detail = "; ".join(messages)
            detail = detail if len(detail) <= 300 else detail[:300] + "..."
            raise InvalidRequest(f"bad params for {op.name!r}: {detail}") from None
        _check_params(op, structured)
        return structured

    # -- health, stats and controls ------------------------------------------------------------

    def _slot(self, name: str) -> ProviderSlot:
        self._require_started()
        slot = self._slots.get(name) if isinstance(name, str) else None
        if slot is None:
            raise InvalidRequest(
                f"unknown provider {excerpt(name)}; providers: {', '.join(sorted(self._slots))}"
            )
        return slot

    def health(self) -> dict[str, ProviderHealth]:
        """Each provider's health: status, breaker, rotation, uptime, latency, last error."""
        self._require_started()
        assert self._router is not None
        return {
            name: slot.health.report(slot.breaker.state, self._router.is_enabled(name))
            for name, slot in sorted(self._slots.items())
        }

    def stats(self) -> Stats:
        """Counters: cache hit rate (overall and per tier), per-provider attempts, and more.

        Readable after the orchestrator is closed, for a final report.
        """
        engine = self._engine
        if engine is None:
            raise PolysourceError("the orchestrator was never started; use 'async with'")
        hits = engine.hits + self._fast_hits
        memory = engine.memory
        return Stats(
            requests=engine.requests + self._fast_hits + self._fast_joins,
            cache_hits=hits,
            cache_misses=engine.misses + self._fast_joins,
            hits_by_tier={
                **({"memory": hits - sum(engine.tier_hits.values())} if engine.memory else {}),
                **engine.tier_hits,
            },
            stale_served=engine.stale_served,
            batches=sum(slot.batches for slot in self._slots.values()),
            deduplicated=engine.deduplicated + self._fast_joins,
            providers={name: slot.stats() for name, slot in sorted(self._slots.items())},
            fleet=engine.fleet.stats() if engine.fleet is not None else {},
            memory_entries=len(memory) if memory is not None else 0,
            memory_bytes=memory.bytes if memory is not None else 0,
            memory_evictions=memory.evictions if memory is not None else 0,
        )

    def disable(self, name: str) -> None:
        """Take a provider out of routing until `enable()`; requests that would have
        asked it report it skipped (``provider_down``, "disabled by the operator")."""
        self._slot(name)
        assert self._router is not None
        self._router.set_enabled(name, False)

    def enable(self, name: str) -> None:
        """Put a provider back into routing and into rotation; its breaker keeps its state
        (`reset_breaker()` closes it)."""
        slot = self._slot(name)
        assert self._router is not None
        self._router.set_enabled(name, True)
        slot.health.restore()

    def set_rank(self, name: str, region: str, rank: int) -> None:
        """Change a provider's rank in a region at runtime."""
        self._slot(name)
        if check_region(region) is None:
            raise InvalidRequest("region must be a string, not None")
        if not isinstance(rank, int) or isinstance(rank, bool):
            raise InvalidRequest(f"rank must be an integer, not {excerpt(rank)}")
        assert self._router is not None
        self._router.set_rank(name, region, rank)

    def reset_budget(self, name: str) -> None:
        """Start a new cost budget window for provider ``name`` now (this process's count)."""
        self._require_started()
        slot = self._slots.get(name)
        if slot is None:
            raise InvalidRequest(f"unknown provider {name[:40]!r}")
        if slot.budget is not None:
            slot.budget.reset()

    def reset_breaker(self, name: str) -> None:
        """Close a provider's circuit breaker and put it back in rotation (failures forgotten).

        A provider the operator disabled stays disabled until `enable()`.
        """
        slot = self._slot(name)
        slot.breaker.reset()
        slot.health.restore("breaker reset")

    async def clear_cache_keys(
        self,
        dataset: Dataset[Any] | str,
        keys: Iterable[str],
        *,
        region: str | None = None,
        tenant: str | None = None,
    ) -> int:
        """Drop the cached entries of some keys of a dataset; returns how many were dropped."""
        self._require_started()
        assert self._engine is not None
        ds = self.dataset(dataset)
        keys = _key_list(keys)
        _check_input(ds, keys, region, tenant)
        memory = self._engine.memory
        if memory is None:
            return 0
        dropped = 0
        for key in keys:
            ckey = (
                ds.name,
                ds.normalize_key(key),
                region or self.config.region,
                tenant if ds.private else None,
            )
            if memory.peek(ckey) is not None:
                memory.remove(ckey)
                dropped += 1
        return dropped

    async def invalidate(
        self,
        dataset: Dataset[Any] | str,
        keys: Iterable[str] | None = None,
        *,
        pattern: str | None = None,
        region: str | None = None,
        tenant: str | None = None,
    ) -> None:
        """Drop cached values from every tier and, with a fleet, from every process's memory.

        Args:
            dataset: A dataset handle or name.
            keys: The keys to drop; with neither ``keys`` nor ``pattern``, the whole dataset
                (every region and tenant).
            pattern: A glob over the dataset's normalised keys (``"AA*"``), instead of ``keys``.
            region: The keys' region (default from config).
            tenant: The tenant, for a private dataset.

        Raises:
            InvalidRequest: Both ``keys`` and ``pattern``, or a pattern that is not a string.
        """
        self._require_started()
        assert self._engine is not None
        ds = self.dataset(dataset)
        if keys is not None:
            keys = _key_list(keys)
        if keys is not None and pattern is not None:
            raise InvalidRequest("give keys or a pattern, not both")
        if pattern is not None:
            check_key(pattern, "pattern")
            if _has_class(pattern):
                raise InvalidRequest(
                    f"pattern {excerpt(pattern)} has a character class ([...]) or ends in a lone "
                    "\\; patterns take * (any run), ? (one character) and \\ (the next character "
                    "literally), the same in every tier"
                )
        _check_input(ds, keys or (), region, tenant)
        tiers = self._engine.tiers
        fields: dict[str, Any] = {"d": ds.name}
        owner = tenant if ds.private else None
        if keys is not None or pattern is not None:
            area = region or self.config.region
            fields["r"] = area
            fields["h"] = self._keyring.digest(owner) if owner is not None else None
            if keys is not None:
                fields["k"] = [ds.normalize_key(k) for k in keys]
            else:
                fields["p"] = pattern
        # Shared tiers first: were memory dropped first, a request in between (here or in
        # another process) could fill it again from a shared tier not yet invalidated.
        if tiers:
            pseudonym = self._keyring.pseudonym(owner) if owner is not None else None
            if keys is None and pattern is None:
                await tiers.delete_pattern(shared_pattern(ds, None, "", None))
            elif pattern is not None:
                await tiers.delete_pattern(shared_pattern(ds, pattern, fields["r"], pseudonym))
            else:
                await tiers.delete([shared_key(ds, k, fields["r"], pseudonym) for k in fields["k"]])
        self._engine.drop_invalidated(fields)
        if self._fleet is not None:
            self._fleet.invalidate(fields)

    def reattach_tiers(self) -> None:
        """Use detached cache tiers again now instead of after their cool-down."""
        self._require_started()
        assert self._engine is not None
        if self._engine.tiers:
            self._engine.tiers.reattach()

    def clear_cache(self, dataset: str | None = None) -> int:
        """Drop cached entries (of one dataset); returns how many."""
        self._require_started()
        assert self._engine is not None
        memory = self._engine.memory
        return memory.clear(dataset) if memory is not None else 0


def _unknown(kind: str, name: str, known: Sequence[str], path: str) -> ConfigError:
    """A ``ConfigError`` for an unregistered name, with the nearest registered one."""
    near = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return ConfigError(
        f"unknown {kind} {name!r}{hint}; known: {', '.join(known) or '(none)'}", path=path
    )


def _check_params(op: Operation[Any, Any], params: Any) -> None:
    """Text parameters (ids, cursors) follow the key alphabet and limit; blank is allowed."""
    if not attrs.has(type(params)):
        return
    for attribute in attrs.fields(type(params)):
        value = getattr(params, attribute.name)
        texts = value if isinstance(value, tuple | list) else (value,)
        for text in texts:
            if isinstance(text, str):
                check_key(text, f"param {attribute.name!r} of {op.name!r}", blank=True)


def _key_list(keys: object) -> list[Any]:
    """``keys`` as a list; raise ``InvalidRequest`` unless it is a collection (not a string)."""
    if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
        raise InvalidRequest(
            f"keys must be a collection of strings, not {excerpt(keys)}"
            if not isinstance(keys, str)
            else "keys must be a collection of strings, not one string"
        )
    return list(keys)


def _has_class(pattern: str) -> bool:
    """Whether a glob has a character class (an unescaped ``[``) or ends in a lone ``\\``."""
    escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            return True
    return escaped
