"""Every hook polysource calls, grouped by phase, and the markers plugins use.

A plugin is a module (or an object) with functions decorated by
[`hookimpl`][polysource.hookspecs.hookimpl] whose names
are the hook names below. A distribution makes it discoverable with one entry point:

    [project.entry-points.polysource]
    tiingo = "polysource_tiingo"

Hooks are for discovery and extension. The orchestrator calls the ``register_*`` hooks once at
start-up, each plugin's implementation separately (so a failing plugin is reported and skipped),
and freezes the answers into a `Registry`. The request path never
calls pluggy: ``on_event`` implementations are collected once into a tuple and called directly,
and ``failover_order`` is consulted once per (dataset, region) pair and the answer kept.

Phases:

1. Registration: ``register_datasets``, ``register_operations``, ``register_providers``,
   ``register_cache_backends``, ``register_fleet_backends``, ``register_merge_strategies``,
   ``register_selection_policies``, ``register_emulators``.
2. Routing and state: ``failover_order``, ``connection_store``, ``audit_log``.
3. Lifecycle: ``startup``, ``shutdown``.
4. Telemetry: ``on_event``, ``metrics_exporter``, ``metrics_exposition``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Final

import pluggy

if TYPE_CHECKING:
    from polysource.connections import ConnectionStore
    from polysource.events import Event
    from polysource.orchestrator import Orchestrator
    from polysource.registry import (
        CacheBackendRegistrar,
        DatasetRegistrar,
        EmulatorRegistrar,
        FleetBackendRegistrar,
        MergeStrategyRegistrar,
        OperationRegistrar,
        ProviderRegistrar,
        SelectionPolicyRegistrar,
    )

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME: Final = "polysource"
"""The pluggy project name and the entry-point group."""

hookspec: Final = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a hook specification (used by this module only)."""

hookimpl: Final = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's hook implementation: ``@hookimpl def register_providers(register): ...``."""


# -- 1. Registration ---------------------------------------------------------------------------


@hookspec
def register_datasets(register: DatasetRegistrar) -> None:
    """Register datasets (their name, schema and cache policy).

    Called once at start-up, before ``register_providers``. Call ``register(dataset)`` with a
    [`Dataset`][polysource.models.Dataset] for each one. Core registers the standard datasets
    (``quote``, ``accounts``, ``weapon_stats``, ...); a plugin registers only new ones.

    Args:
        register: Callback taking a ``Dataset``; raises ``PluginError`` when another plugin
            already registered the name.
    """


@hookspec
def register_operations(register: OperationRegistrar) -> None:
    """Register operations (named actions with parameters, such as ``create_link``).

    Called once at start-up. Call ``register(operation)`` with a
    [`Operation`][polysource.models.Operation]; its ``idempotent`` flag decides whether it may be
    retried or failed over after a timeout.

    Args:
        register: Callback taking an ``Operation``; duplicate names raise ``PluginError``.
    """


@hookspec
def register_providers(register: ProviderRegistrar) -> None:
    """Register provider factories.

    Called once at start-up. Call ``register(factory)`` where ``factory`` has a class-level
    ``info`` ([`ProviderInfo`][polysource.models.ProviderInfo]) and, called with
    [`ProviderSettings`][polysource.provider.ProviderSettings], returns a
    [`Provider`][polysource.provider.Provider]. A provider instance may be registered too.

    Args:
        register: Callback taking a factory or provider; it checks that the datasets and
            operations it names exist, and raises ``PluginError`` naming both plugins when the
            provider's name is taken.
    """


@hookspec
def register_cache_backends(register: CacheBackendRegistrar) -> None:
    """Register cache backends by the URL schemes they claim.

    Called once at start-up. Call ``register(schemes, factory)``; the orchestrator builds one
    backend per URL listed in ``[cache] tiers`` whose scheme the backend claims
    (``memory://``, ``redis://``, ``sqlite://``, ``postgresql://``).

    Args:
        register: Callback taking a tuple of schemes and a factory ``(url, context) -> backend``.
    """


@hookspec
def register_fleet_backends(register: FleetBackendRegistrar) -> None:
    """Register fleet backends by the URL schemes they claim.

    Called once at start-up. Call ``register(schemes, factory)``; when ``[fleet] url`` is set,
    the orchestrator builds its fleet backend (a
    [`FleetBackend`][polysource.engine.fleet.FleetBackend]: message channel, counters, leases) from
    the factory claiming the URL's scheme, so that processes sharing it share breaker state,
    single-flight and invalidation.

    Args:
        register: Callback taking a tuple of schemes and a factory ``(url, context) -> backend``
            (``context`` is a `FleetContext`).
    """


@hookspec
def register_merge_strategies(register: MergeStrategyRegistrar) -> None:
    """Register merge strategies for ``fetch_merged``.

    Called once at start-up. Call ``register(name, strategy)`` with an instance of a
    [`MergeStrategy`][polysource.engine.merge.MergeStrategy]: an object whose pure
    ``merge(dataset, answers, options)`` returns a
    [`MergeOutcome`][polysource.engine.merge.MergeOutcome]. Built-ins: ``first``,
    ``field_priority``,
    ``median``, ``union``, ``consensus`` (see
    [`polysource.engine.strategies`][polysource.engine.strategies]).

    Args:
        register: Callback taking a name and a strategy; it raises ``PluginError`` for an
            object without a ``merge`` method, and naming both plugins when the name is taken.
    """


@hookspec
def register_selection_policies(register: SelectionPolicyRegistrar) -> None:
    """Register selection policies that order the candidate providers of a request.

    Called once at start-up. Call ``register(name, factory)``; ``[selection]`` in config picks
    one. Built-ins: ``priority``, ``weighted``, ``least_latency``, ``cost``, ``adaptive``.

    Args:
        register: Callback taking a name and a policy factory.
    """


@hookspec
def register_emulators(register: EmulatorRegistrar) -> None:
    """Register local emulators of providers' HTTP APIs.

    Called once when the plugins are resolved (every orchestrator's start-up, ``polysource
    emulate NAME``, ``polysource demo``, tests and benchmarks). Call ``register(name, factory,
    description=..., default_port=...)`` where ``factory(faults)`` returns an
    ``aiohttp.web.Application`` speaking the provider's wire protocol with the given
    `Faults` injected.

    Give ``factory`` as an import path, e.g. ``register("tiingo",
    "polysource_tiingo.emulator:create_app", ...)``, so that the emulator's module (and
    ``aiohttp.web``) is imported only when the emulator is asked for, not by every application
    that loads the plugin; a callable is accepted too. A path that is not
    ``package.module:function`` raises ``PluginError`` at registration, one that does not
    import raises it at the first call.

    Args:
        register: Callback taking a name, an app factory or its import path, a description
            and a default port.
    """


# -- 2. Routing and state ----------------------------------------------------------------------


@hookspec(firstresult=True)
def failover_order(dataset: str, region: str, providers: Sequence[str]) -> Sequence[str] | None:
    """Reorder the failover order of a (dataset, region) pair.

    Called once per pair, the first time it is routed, after ranks and config have given
    ``providers``; the answer is kept. Stops at the first implementation that returns a
    sequence (``firstresult``). Returning names not in ``providers`` is an error; leaving names
    out removes those providers for that pair.

    Args:
        dataset: The dataset (or operation) name.
        region: The region.
        providers: The order resolved so far.

    Returns:
        The new order, or ``None`` to leave it unchanged.
    """


@hookspec(firstresult=True)
def connection_store(orchestrator: Orchestrator) -> ConnectionStore | None:
    """Supply the store of tenants' connections (links and access tokens at providers).

    Called once at start-up; the first store returned is used (``firstresult``). Without one,
    connections are kept in memory in this process.

    Args:
        orchestrator: The orchestrator starting.

    Returns:
        A `ConnectionStore`, or ``None``.
    """


@hookspec(firstresult=True)
def audit_log(url: str, retention_days: float | None) -> object | None:
    """Build the provider-attempt audit log that ``[audit] url`` names.

    Called once, before the other hooks are collected, when ``[audit] url`` is set; the first
    plugin to answer wins (``firstresult``). The answer is registered as one more plugin, so
    its ``on_event``, ``startup`` and ``shutdown`` hooks run like any other's, and it is
    ``orchestrator.audit``. ``polysource[sql]`` serves ``sqlite://`` and ``postgresql://``.

    Args:
        url: The ``[audit] url``.
        retention_days: Days rows are kept (``None``: forever).

    Returns:
        The audit log (a plugin object), or ``None`` when this plugin does not serve the URL's
        scheme.

    Raises:
        ValueError: The plugin serves the scheme but the URL is not valid.
    """


@hookspec(firstresult=True)
def job_runner(orchestrator: Orchestrator) -> object | None:
    """Run the orchestrator's jobs elsewhere than in this process (a worker fleet).

    Called once at start-up, after the ``startup`` hooks; the first plugin to answer wins
    (``firstresult``). The answer has an ``enqueue(name)`` coroutine method (see
    `polysource.jobs.scheduler.JobRunner`); while it is set, the orchestrator runs no
    schedule of its own and ``orch.jobs.run_now(name)`` enqueues one run.
    ``polysource[redis]`` answers when ``[jobs_queue] url`` is set (arq workers started by
    ``polysource worker``).

    Args:
        orchestrator: The orchestrator starting (its ``config`` and ``jobs``).

    Returns:
        The runner, or ``None`` to leave the jobs to the in-process scheduler.
    """


# -- 3. Lifecycle ------------------------------------------------------------------------------


@hookspec
def startup(orchestrator: Orchestrator) -> Awaitable[None] | None:
    """Called when the orchestrator starts (``async with``), after providers are built.

    May be a coroutine function; it is awaited. An exception aborts start-up.

    Args:
        orchestrator: The orchestrator starting.
    """


@hookspec
def shutdown(orchestrator: Orchestrator) -> Awaitable[None] | None:
    """Called when the orchestrator stops, before providers are closed.

    May be a coroutine function; it is awaited. Exceptions are logged, never raised, so
    every plugin gets its shutdown.

    Args:
        orchestrator: The orchestrator stopping.
    """


# -- 4. Telemetry ------------------------------------------------------------------------------


@hookspec
def on_event(event: Event) -> None:
    """Receive one structured event (cache hit or miss, attempt, retry, breaker change, ...).

    Implementations are collected once at start-up and called directly, synchronously, on the
    request path: return quickly and never raise (an exception is counted and dropped). To
    receive only some kinds, give the function (or the plugin object) an attribute
    ``event_kinds`` (a collection of `EventKind`); events nobody
    wants are never built. Events carry no secret and no private data: keys of private
    datasets and tenant ids are replaced by short hashes.

    Args:
        event: The event.
    """


@hookspec(firstresult=True)
def metrics_exporter() -> object | None:
    """Build the metrics exporter that ``[telemetry] prometheus = true`` turns on.

    Called once by ``polysource serve`` (each worker), before its orchestrator is built, when
    the switch is on; the first plugin to answer wins (``firstresult``). The answer is given to
    the orchestrator as one more plugin, so its ``on_event`` and ``metrics_exposition`` hooks
    are collected like any other's. ``polysource[prometheus]`` answers with a
    ``PrometheusMetrics``.

    Returns:
        The exporter (a plugin object), or ``None``.
    """


@hookspec(firstresult=True)
def metrics_exposition(accept: str) -> tuple[str, bytes] | None:
    """Render the metrics exposition the gateway serves at ``GET /metrics``.

    Collected once at start-up; the gateway calls the first implementation on each scrape
    (``firstresult``). Without an implementation ``/metrics`` answers 404. Implement it on the
    exporter object (not at module level), so an installed but unused exporter serves nothing.

    Args:
        accept: The scraper's ``Accept`` header (empty when it sent none), to choose the
            Prometheus text format or OpenMetrics.

    Returns:
        The content type and the body, or ``None`` to leave it to another plugin.
    """
