"""The scrape-time half: [`StatsCollector`][polysource_prometheus.collector.StatsCollector] turns
``orch.stats()`` and ``orch.health()``
into metric families each time the registry is collected.

What the engine already counts (cache hits on the hit path, joins of calls in flight, the
memory tier's size, budgets) is read from it here rather than counted again from events, so
the hit path builds no event for the exporter and no figure is counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from polysource.errors import PolysourceError
from polysource.models import BreakerState, HealthStatus, Stats

if TYPE_CHECKING:
    from polysource.orchestrator import Orchestrator

__all__ = ["FLEET_COUNTERS", "StatsCollector"]

FLEET_COUNTERS: Final = {
    "leads": "Misses this process called providers for under a fleet lease.",
    "joins": "Misses answered by another process of the fleet.",
    "wait_timeouts": "Waits on another process of the fleet that ran out of time.",
    "remote_breaker_changes": "Breaker changes received from other processes of the fleet.",
    "invalidations": "Cache invalidations received from the fleet.",
    "failures": "Operations on the fleet's backend that failed.",
}
"""The counters of ``Stats.fleet``, exposed as ``polysource_fleet_<name>_total``."""


class StatsCollector(Collector):
    """A prometheus_client collector over one orchestrator's ``stats()`` and ``health()``.

    Args:
        orchestrator: The orchestrator to read; its ``stats()`` stays readable after it is
            closed, its ``health()`` (breaker and status gauges) only while it runs.
    """

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.orchestrator = orchestrator

    def describe(self) -> Iterable[Metric]:
        """The families `collect()` yields, without samples (for duplicate checks)."""
        return list(_families(Stats(), {}))

    def collect(self) -> Iterable[Metric]:
        """The families, read from the orchestrator now (families without samples left out)."""
        try:
            stats = self.orchestrator.stats()
        except PolysourceError:  # never started: nothing to report yet
            return []
        try:
            health = {
                name: (report.breaker, report.status)
                for name, report in self.orchestrator.health().items()
            }
        except PolysourceError:  # closed: counters stay readable, states do not
            health = {}
        return [family for family in _families(stats, health) if family.samples]


def _families(
    stats: Stats, health: dict[str, tuple[BreakerState, HealthStatus]]
) -> Iterator[Metric]:
    yield _counter(
        "polysource_requests", "Requests answered or failed (cache hits included).", stats.requests
    )
    hits = CounterMetricFamily(
        "polysource_cache_hits", "Lookups answered by a cache layer.", labels=["layer"]
    )
    for layer, count in sorted(stats.hits_by_tier.items()):
        hits.add_metric([layer], count)
    yield hits
    yield _counter(
        "polysource_cache_misses", "Lookups no cache layer answered.", stats.cache_misses
    )
    yield _counter(
        "polysource_deduplicated",
        "Requests that joined an identical call in flight instead of calling providers.",
        stats.deduplicated,
    )
    yield from _memory(stats)
    yield from _providers(stats)
    yield from _states(health)
    yield from _fleet(stats)


def _memory(stats: Stats) -> Iterator[Metric]:
    entries = GaugeMetricFamily(
        "polysource_cache_entries", "Entries a cache layer holds now.", labels=["layer"]
    )
    size = GaugeMetricFamily(
        "polysource_cache_size_bytes",
        "Bytes a cache layer's entries are charged now (the figure max_bytes bounds).",
        labels=["layer"],
    )
    evictions = CounterMetricFamily(
        "polysource_cache_evictions",
        "Entries a cache layer evicted to stay within its bounds.",
        labels=["layer"],
    )
    if "memory" in stats.hits_by_tier:  # the memory layer is configured
        entries.add_metric(["memory"], stats.memory_entries)
        size.add_metric(["memory"], stats.memory_bytes)
        evictions.add_metric(["memory"], stats.memory_evictions)
    yield from (entries, size, evictions)


def _providers(stats: Stats) -> Iterator[Metric]:
    cost = CounterMetricFamily(
        "polysource_provider_cost",
        "Cost units spent on provider calls since start.",
        labels=["provider"],
    )
    limit = GaugeMetricFamily(
        "polysource_provider_budget_limit",
        "Cost units a provider's budget allows per period.",
        labels=["provider"],
    )
    spent = GaugeMetricFamily(
        "polysource_provider_budget_spent",
        "Cost units spent in the provider's current budget period (by this process).",
        labels=["provider"],
    )
    for name, provider in stats.providers.items():
        cost.add_metric([name], provider.cost_spent)
        if provider.budget_limit is not None:
            limit.add_metric([name], provider.budget_limit)
            spent.add_metric([name], provider.budget_spent)
    yield from (cost, limit, spent)


def _states(health: dict[str, tuple[BreakerState, HealthStatus]]) -> Iterator[Metric]:
    breaker = GaugeMetricFamily(
        "polysource_breaker_state",
        "1 for the state a provider's circuit breaker is in, 0 for the others.",
        labels=["provider", "state"],
    )
    status = GaugeMetricFamily(
        "polysource_provider_status",
        "1 for a provider's health status, 0 for the others.",
        labels=["provider", "status"],
    )
    for name, (breaker_state, health_status) in health.items():
        for state in BreakerState:
            breaker.add_metric([name, state.value], 1.0 if state is breaker_state else 0.0)
        for value in HealthStatus:
            status.add_metric([name, value.value], 1.0 if value is health_status else 0.0)
    yield from (breaker, status)


def _fleet(stats: Stats) -> Iterator[Metric]:
    fleet = stats.fleet
    attached = GaugeMetricFamily(
        "polysource_fleet_attached", "1 while the fleet's backend is attached, else 0."
    )
    if "attached" in fleet:
        attached.add_metric([], fleet["attached"])
    yield attached
    for name, documentation in FLEET_COUNTERS.items():
        family = CounterMetricFamily(f"polysource_fleet_{name}", documentation)
        if name in fleet:
            family.add_metric([], fleet[name])
        yield family


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
