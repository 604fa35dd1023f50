"""polysource integration for OpenTelemetry: spans of requests, provider attempts and HTTP calls.

The entry point ``otel`` in the ``polysource`` group names this module, so the distribution
shows among the installed plugins; loading it registers no event sink and traces nothing.
Tracing is opt-in, per orchestrator: pass an
[`OtelTracing`][polysource_otel.tracing.OtelTracing] in ``Orchestrator(plugins=[...])`` and
call through [`OtelTracing.traced()`][polysource_otel.tracing.OtelTracing.traced] for request
spans.
"""

from __future__ import annotations

from polysource_otel.http import attempt_span, http_trace_config
from polysource_otel.tracing import SPAN_EVENTS, OtelTracing, TracedOrchestrator

__all__ = [
    "OtelTracing",
    "SPAN_EVENTS",
    "TracedOrchestrator",
    "attempt_span",
    "http_trace_config",
]
