"""The Grafana dashboard shipped beside the package queries only metrics the exporter has."""

from __future__ import annotations

import json
import re
from pathlib import Path

from polysource_prometheus import StatsCollector
from polysource_prometheus.metrics import COUNTERS, DURATION

DASHBOARD = Path(__file__).resolve().parent.parent / "grafana-dashboard.json"


def test_dashboard_queries_only_exported_metrics() -> None:
    """Every polysource_* name in the dashboard's queries is a family the exporter exposes."""
    families = {name.removesuffix("_total") for name, _, _ in COUNTERS.values()} | {DURATION}
    families |= {family.name for family in StatsCollector(None).describe()}  # type: ignore[arg-type]
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", ())
    ]
    assert queries
    used = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for query in queries
        for name in re.findall(r"\bpolysource_[a-z_]+", query)
    }
    assert used <= families, used - families
    assert {"polysource_provider_request_duration_seconds", "polysource_breaker_state"} <= used
