"""The event half: :class:`PrometheusMetrics`, an ``on_event`` sink and the plugin to pass in.

It counts what only events tell (provider attempts by outcome and error category, their
latency, retries, skips, failovers, hedges, batches, stale answers, failed requests, breaker
transitions) and, at ``startup``, registers a
:class:`~polysource_prometheus.collector.StatsCollector` for what the engine counts itself.
It asks for those event kinds only, so a cache hit builds no event for it.

Labels are bounded: ``provider``, ``dataset`` (a dataset or operation name), ``outcome``,
``category`` (an error category), ``state``, ``layer``. No key, tenant or region is ever a
label, so private data cannot reach a metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram

from polysource.events import Event, EventKind
from polysource.hookspecs import hookimpl
from polysource_prometheus.collector import StatsCollector

if TYPE_CHECKING:
    from polysource.orchestrator import Orchestrator

__all__ = ["DEFAULT_BUCKETS", "PrometheusMetrics"]

DEFAULT_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the provider latency histogram's buckets (``+Inf`` added)."""

_Handler = Callable[[Event], None]


class PrometheusMetrics:
    """Prometheus metrics of one orchestrator: pass it in ``Orchestrator(plugins=[...])``.

    Example::

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
    event_kinds: Final = frozenset(
        {
            EventKind.SUCCESS,
            EventKind.FAILURE,
            EventKind.RETRY,
            EventKind.SKIPPED,
            EventKind.FAILOVER,
            EventKind.HEDGE,
            EventKind.BATCH,
            EventKind.STALE_SERVED,
            EventKind.REQUEST_FAILED,
            EventKind.BREAKER,
        }
    )

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._collector: StatsCollector | None = None
        self._orchestrator: Orchestrator | None = None
        self._running = False
        reg = self.registry
        self.attempts = Counter(
            "polysource_provider_attempts_total",
            "Provider calls that ended, by outcome (success or failure) and error category "
            "(empty for successes).",
            ["provider", "dataset", "outcome", "category"],
            registry=reg,
        )
        self.duration = Histogram(
            "polysource_provider_request_duration_seconds",
            "Seconds a provider call took, by outcome (success or failure).",
            ["provider", "dataset", "outcome"],
            buckets=tuple(buckets),
            registry=reg,
        )
        self.retries = Counter(
            "polysource_provider_retries_total",
            "Provider calls retried, by the error category that caused the retry.",
            ["provider", "dataset", "category"],
            registry=reg,
        )
        self.skips = Counter(
            "polysource_provider_skips_total",
            "Provider calls not made, by reason (circuit_open, rate_limit, budget_exhausted, "
            "provider_down).",
            ["provider", "dataset", "category"],
            registry=reg,
        )
        self.failovers = Counter(
            "polysource_failovers_total",
            "Requests passed on to the next provider, by the provider that failed and why.",
            ["dataset", "provider", "category"],
            registry=reg,
        )
        self.hedges = Counter(
            "polysource_hedges_total",
            "Hedged calls started at a provider while an earlier one was still running.",
            ["dataset", "provider"],
            registry=reg,
        )
        self.batches = Counter(
            "polysource_provider_batches_total",
            "Batched provider calls (several keys in one call).",
            ["provider", "dataset"],
            registry=reg,
        )
        self.stale = Counter(
            "polysource_stale_served_total",
            "Stale cached answers served because every provider failed.",
            ["dataset"],
            registry=reg,
        )
        self.failed = Counter(
            "polysource_failed_requests_total",
            "Requests that failed: every provider failed and no stale answer could be served.",
            ["dataset"],
            registry=reg,
        )
        self.transitions = Counter(
            "polysource_breaker_transitions_total",
            "Circuit breaker changes, by the state entered.",
            ["provider", "state"],
            registry=reg,
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._successes: dict[tuple[str | None, str | None], tuple[Any, Any]] = {}
        self._handlers: dict[EventKind, _Handler] = {
            EventKind.FAILURE: self._failure,
            EventKind.RETRY: self._retry,
            EventKind.SKIPPED: self._skipped,
            EventKind.FAILOVER: self._failover,
            EventKind.HEDGE: self._hedge,
            EventKind.BATCH: self._batch,
            EventKind.STALE_SERVED: self._stale,
            EventKind.REQUEST_FAILED: self._request_failed,
            EventKind.BREAKER: self._breaker,
        }

    # -- hooks ---------------------------------------------------------------------------------

    @hookimpl
    def on_event(self, event: Event) -> None:
        """Count one event (a few dict lookups and one or two increments)."""
        if event.kind is EventKind.SUCCESS:
            self._success(event)
            return
        handler = self._handlers.get(event.kind)
        if handler is not None:
            handler(event)

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

    def unregister(self) -> None:
        """Take every metric of this instance out of its registry (for a shared registry,
        before another instance registers there)."""
        for collector in (
            self.attempts,
            self.duration,
            self.retries,
            self.skips,
            self.failovers,
            self.hedges,
            self.batches,
            self.stale,
            self.failed,
            self.transitions,
            self._collector,
        ):
            if collector is not None:
                self.registry.unregister(collector)
        self._collector = None

    # -- one handler per event kind ------------------------------------------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        """The labelled child of ``metric``, kept so the request path skips ``labels()``."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _success(self, event: Event) -> None:
        # The common case gets one lookup for both children.
        pair = self._successes.get((event.provider, event.dataset))
        if pair is None:
            provider, dataset = event.provider or "", event.dataset or ""
            pair = self._successes[(event.provider, event.dataset)] = (
                self.attempts.labels(provider, dataset, "success", ""),
                self.duration.labels(provider, dataset, "success"),
            )
        pair[0].inc()
        if event.duration is not None:
            pair[1].observe(event.duration)

    def _failure(self, event: Event) -> None:
        provider, dataset = event.provider or "", event.dataset or ""
        self._child(self.attempts, provider, dataset, "failure", event.category or "").inc()
        if event.duration is not None:
            self._child(self.duration, provider, dataset, "failure").observe(event.duration)

    def _retry(self, event: Event) -> None:
        self._child(
            self.retries, event.provider or "", event.dataset or "", event.category or ""
        ).inc()

    def _skipped(self, event: Event) -> None:
        self._child(
            self.skips, event.provider or "", event.dataset or "", event.category or ""
        ).inc()

    def _failover(self, event: Event) -> None:
        self._child(
            self.failovers, event.dataset or "", event.provider or "", event.category or ""
        ).inc()

    def _hedge(self, event: Event) -> None:
        self._child(self.hedges, event.dataset or "", event.provider or "").inc()

    def _batch(self, event: Event) -> None:
        self._child(self.batches, event.provider or "", event.dataset or "").inc()

    def _stale(self, event: Event) -> None:
        self._child(self.stale, event.dataset or "").inc()

    def _request_failed(self, event: Event) -> None:
        self._child(self.failed, event.dataset or "").inc()

    def _breaker(self, event: Event) -> None:
        state = event.detail.get("to")
        if isinstance(state, str):
            self._child(self.transitions, event.provider or "", state).inc()

    def __repr__(self) -> str:
        bound = "running" if self._running else "idle"
        return f"PrometheusMetrics({bound}, series={len(self._children)})"
