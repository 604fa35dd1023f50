"""polysource integration for Prometheus: counters, gauges and histograms, and ``/metrics``.

The entry point ``prometheus`` in the ``polysource`` group names this module, so the
distribution shows among the installed plugins; loading it registers no event sink and no
metric. Metrics are opt-in, per orchestrator: pass a
[`PrometheusMetrics`][polysource_prometheus.PrometheusMetrics] in
``Orchestrator(plugins=[...])`` and mount
[`metrics_handler()`][polysource_prometheus.metrics_handler] on an aiohttp application,
or set ``[telemetry] prometheus = true`` and ``polysource serve`` builds one (through the
``metrics_exporter`` hook below) and serves it at ``GET /metrics``.
"""

from __future__ import annotations

from polysource.hookspecs import hookimpl
from polysource_prometheus.collector import FLEET_COUNTERS, StatsCollector
from polysource_prometheus.handler import metrics_handler
from polysource_prometheus.metrics import DEFAULT_BUCKETS, PrometheusMetrics

__all__ = [
    "DEFAULT_BUCKETS",
    "FLEET_COUNTERS",
    "PrometheusMetrics",
    "StatsCollector",
    "metrics_exporter",
    "metrics_handler",
]


@hookimpl
def metrics_exporter() -> PrometheusMetrics:
    """A fresh [`PrometheusMetrics`][polysource_prometheus.PrometheusMetrics] for an orchestrator
    that ``[telemetry] prometheus``
    asks to export metrics."""
    return PrometheusMetrics()
