"""polysource integration for Prometheus: counters, gauges and histograms, and ``/metrics``.

The entry point ``prometheus`` in the ``polysource`` group names this module, so the
distribution shows among the installed plugins; loading it registers no event sink and no
metric. Metrics are opt-in, per orchestrator: pass a :class:`PrometheusMetrics` in
``Orchestrator(plugins=[...])`` and mount :func:`metrics_handler` on an aiohttp application.
"""

from __future__ import annotations

from polysource_prometheus.collector import FLEET_COUNTERS, StatsCollector
from polysource_prometheus.handler import metrics_handler
from polysource_prometheus.metrics import DEFAULT_BUCKETS, PrometheusMetrics

__all__ = [
    "DEFAULT_BUCKETS",
    "FLEET_COUNTERS",
    "PrometheusMetrics",
    "StatsCollector",
    "metrics_handler",
]
