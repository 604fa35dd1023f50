"""The event half: [`PrometheusMetrics`][polysource_prometheus.metrics.PrometheusMetrics], an
``on_event`` sink and the plugin to pass in.

It counts what only events tell (provider attempts by outcome and error category, their
latency, retries, skips, failovers, hedges, batches, stale answers, failed requests, breaker
transitions) and, at ``startup``, registers a
[`StatsCollector`][polysource_prometheus.collector.StatsCollector] for what the engine counts
itself.
It asks for those event kinds only, so a cache hit builds no event for it.

On the request path an event only adds one to a plain ``int`` (and, for a finished provider
call, to a latency bucket); the counts become metric families when the registry is
collected, like the stats. That keeps prometheus_client's locks and label lookups off the
provider call.

Labels are bounded: ``provider``, ``dataset`` (a dataset or operation name), ``outcome``,
``category`` (an error category), ``state``, ``layer``. No key, tenant or region is ever a
label, so private data cannot reach a metric.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from polysource.events import Event, EventKind
from polysource.hookspecs import hookimpl
from polysource_prometheus.collector import StatsCollector

if TYPE_CHECKING:
    from polysource.orchestrator import Orchestrator

__all__ = ["COUNTERS", "DEFAULT_BUCKETS", "DURATION", "PrometheusMetrics"]

DEFAULT_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the provider latency histogram's buckets (``+Inf`` added)."""

DURATION: Final = "polysource_provider_request_duration_seconds"
"""The name of the provider latency histogram."""
_DURATION_HELP: Final = "Seconds a provider call took, by outcome (success or failure)."
_DURATION_LABELS: Final = ("provider", "dataset", "outcome")

COUNTERS: Final = {
    EventKind.SUCCESS: (
        "polysource_provider_attempts_total",
        "Provider calls that ended, by outcome (success or failure) and error category "
        "(empty for successes).",
        ("provider", "dataset", "outcome", "category"),
    ),
    EventKind.RETRY: (
        "polysource_provider_retries_total",
        "Provider calls retried, by the error category that caused the retry.",
        ("provider", "dataset", "category"),
    ),
    EventKind.SKIPPED: (
        "polysource_provider_skips_total",
        "Provider calls not made, by reason (circuit_open, rate_limit, budget_exhausted, "
        "provider_down).",
        ("provider", "dataset", "category"),
    ),
    EventKind.FAILOVER: (
        "polysource_failovers_total",
        "Requests passed on to the next provider, by the provider that failed and why.",
        ("dataset", "provider", "category"),
    ),
    EventKind.HEDGE: (
        "polysource_hedges_total",
        "Hedged calls started at a provider while an earlier one was still running.",
        ("dataset", "provider"),
    ),
    EventKind.BATCH: (
        "polysource_provider_batches_total",
        "Batched provider calls (several keys in one call).",
        ("provider", "dataset"),
    ),
    EventKind.STALE_SERVED: (
        "polysource_stale_served_total",
        "Stale cached answers served because every provider failed.",
        ("dataset",),
    ),
    EventKind.REQUEST_FAILED: (
        "polysource_failed_requests_total",
        "Requests that failed: every provider failed and no stale answer could be served.",
        ("dataset",),
    ),
    EventKind.BREAKER: (
        "polysource_breaker_transitions_total",
        "Circuit breaker changes, by the state entered.",
        ("provider", "state"),
    ),
}
"""The counters kept from events: event kind to (name, help, label names). Failures count
in ``polysource_provider_attempts_total`` with successes."""


class _Latency:
    """One histogram series: counts per bucket (not cumulative) and the sum."""

    __slots__ = ("buckets", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size
        self.total = 0.0


class PrometheusMetrics:
    """Prometheus metrics of one orchestrator: pass it in ``Orchestrator(plugins=[...])``.

    Example:

        metrics = PrometheusMetrics()
        async with Orchestrator.from_config("polysource.toml", plugins=[metrics]) as orch:
            app.router.add_get("/metrics", metrics_handler(metrics))

    Args:
        registry: Where the metrics are registered. By default a private
            ``CollectorRegistry`` of this instance, so two orchestrators in one process never
            collide; pass ``prometheus_client.REGISTRY`` to expose them with the process's
            other metrics (one instance per registry: a second raises ``ValueError``).
        buckets: Upper bounds, in seconds, of the provider latency histogram's buckets.

    Attributes:
        registry: The registry holding the metrics (read it with ``generate_latest``).
    """

    plugin_name = "polysource_prometheus.metrics"
    event_kinds: Final = frozenset({EventKind.FAILURE, *COUNTERS})

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.bounds = tuple(sorted(float(b) for b in buckets if b != float("inf")))
        self.counts: dict[tuple[EventKind, tuple[str, ...]], int] = {}
        """Event kind and label values to a count (successes are counted in ``latency``)."""
        self.latency: dict[tuple[str | None, str | None, str], _Latency] = {}
        """(provider, dataset, outcome) to that series' buckets and sum."""
        self._events = _EventCollector(self)
        self.registry.register(self._events)
        self._collector: StatsCollector | None = None
        self._orchestrator: Orchestrator | None = None
        self._running = False

    # -- hooks ---------------------------------------------------------------------------------

    @hookimpl
    def on_event(self, event: Event) -> None:
        """Count one event: a dict lookup and an ``int`` increment or two."""
        kind = event.kind
        if kind is EventKind.SUCCESS:  # the one event of a healthy provider call
            series = self.latency.get((event.provider, event.dataset, "success"))
            if series is None:
                series = self._series(event, "success")
            duration = event.duration or 0.0
            series.buckets[bisect_left(self.bounds, duration)] += 1
            series.total += duration
            return
        if kind is EventKind.FAILURE:
            self._failure(event)
            return
        labels = _labels(event)
        if labels is not None:
            key = (kind, labels)
            counts = self.counts
            counts[key] = counts.get(key, 0) + 1

    def _series(self, event: Event, outcome: str) -> _Latency:
        series = self.latency[(event.provider, event.dataset, outcome)] = _Latency(
            len(self.bounds) + 1
        )
        return series

    def _failure(self, event: Event) -> None:
        labels = (event.provider or "", event.dataset or "", "failure", event.category or "")
        key = (EventKind.FAILURE, labels)
        self.counts[key] = self.counts.get(key, 0) + 1
        series = self.latency.get((event.provider, event.dataset, "failure"))
        if series is None:
            series = self._series(event, "failure")
        duration = event.duration or 0.0
        series.buckets[bisect_left(self.bounds, duration)] += 1
        series.total += duration

    @hookimpl
    def startup(self, orchestrator: Orchestrator) -> None:
        """Register the collector reading this orchestrator's stats and health.

        Raises:
            ValueError: This instance already serves another running orchestrator.
        """
        if self._running and orchestrator is not self._orchestrator:
            raise ValueError(
                "a PrometheusMetrics serves one orchestrator; give each its own instance"
            )
        if self._collector is not None and orchestrator is not self._orchestrator:
            self.registry.unregister(self._collector)
            self._collector = None
        if self._collector is None:
            self._collector = StatsCollector(orchestrator)
            self.registry.register(self._collector)
        self._orchestrator = orchestrator
        self._running = True

    @hookimpl
    def shutdown(self, orchestrator: Orchestrator) -> None:
        """Stop serving ``orchestrator``; its final counters stay in the registry."""
        if orchestrator is self._orchestrator:
            self._running = False

    @hookimpl
    def metrics_exposition(self, accept: str) -> tuple[str, bytes]:
        """This registry's exposition for the gateway's ``GET /metrics``: Prometheus text, or
        OpenMetrics when ``accept`` asks for it."""
        encoder, content_type = choose_encoder(accept)
        return content_type, encoder(self.registry)

    def unregister(self) -> None:
        """Take every metric of this instance out of its registry (for a shared registry,
        before another instance registers there)."""
        self.registry.unregister(self._events)
        if self._collector is not None:
            self.registry.unregister(self._collector)
            self._collector = None

    def __repr__(self) -> str:
        bound = "running" if self._running else "idle"
        return f"PrometheusMetrics({bound}, series={len(self.counts) + len(self.latency)})"


def _labels(event: Event) -> tuple[str, ...] | None:
    """The label values of a counted event, in the order of
    [`COUNTERS`][polysource_prometheus.metrics.COUNTERS]."""
    provider, dataset, category = event.provider or "", event.dataset or "", event.category or ""
    kind = event.kind
    if kind is EventKind.RETRY or kind is EventKind.SKIPPED:
        return (provider, dataset, category)
    if kind is EventKind.FAILOVER:
        return (dataset, provider, category)
    if kind is EventKind.HEDGE:
        return (dataset, provider)
    if kind is EventKind.BATCH:
        return (provider, dataset)
    if kind is EventKind.STALE_SERVED or kind is EventKind.REQUEST_FAILED:
        return (dataset,)
    if kind is EventKind.BREAKER:
        state = event.detail.get("to")
        return (provider, state) if isinstance(state, str) else None
    return None


class _EventCollector(Collector):
    """The families of a [`PrometheusMetrics`][polysource_prometheus.metrics.PrometheusMetrics]'
    event counts, built at collect time."""

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return list(self._families(empty=True))

    def collect(self) -> Iterable[Metric]:
        return [family for family in self._families(empty=False) if family.samples]

    def _families(self, *, empty: bool) -> Iterator[Metric]:
        metrics = self.metrics
        counts = [] if empty else list(metrics.counts.items())
        latency = [] if empty else list(metrics.latency.items())
        for kind, (name, documentation, labels) in COUNTERS.items():
            family = CounterMetricFamily(name, documentation, labels=labels)
            if kind is EventKind.SUCCESS:
                for (provider, dataset, outcome), series in latency:
                    if outcome == "success":
                        family.add_metric(
                            [provider or "", dataset or "", outcome, ""], sum(series.buckets)
                        )
                for (counted, values), count in counts:
                    if counted is EventKind.FAILURE:
                        family.add_metric(list(values), count)
            else:
                for (counted, values), count in counts:
                    if counted is kind:
                        family.add_metric(list(values), count)
            yield family
        yield self._histogram(latency)

    def _histogram(
        self, latency: list[tuple[tuple[str | None, str | None, str], _Latency]]
    ) -> HistogramMetricFamily:
        # The label values prometheus_client's own Histogram gives (untyped in the library).
        bounds = [*(floatToGoString(b) for b in self.metrics.bounds), "+Inf"]  # type: ignore[no-untyped-call]
        family = HistogramMetricFamily(DURATION, _DURATION_HELP, labels=_DURATION_LABELS)
        for (provider, dataset, outcome), series in latency:
            cumulative, running = [], 0
            for bound, count in zip(bounds, series.buckets, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            family.add_metric([provider or "", dataset or "", outcome], cumulative, series.total)
        return family
