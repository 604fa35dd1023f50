"""Fixtures of the Prometheus tests: a fake clock, and orchestrators with the metrics plugin.

``make_orchestrator(*plugins, metrics=..., **config)`` builds a started orchestrator on the
fake clock with only the plugins given (no entry points) plus ``metrics`` (a fresh
:class:`PrometheusMetrics` by default), and closes it after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from polysource import Orchestrator, load_config
from polysource.testing import FakeClock
from polysource_prometheus import PrometheusMetrics


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock: time moves only when the test says so."""
    return FakeClock()


@pytest.fixture
def metrics() -> PrometheusMetrics:
    """A metrics plugin with a private registry."""
    return PrometheusMetrics()


@pytest.fixture
async def make_orchestrator(
    clock: FakeClock, metrics: PrometheusMetrics
) -> AsyncIterator[Callable[..., Awaitable[Orchestrator]]]:
    """Factory of started orchestrators with ``metrics`` plugged in, closed afterwards."""
    built: list[Orchestrator] = []

    async def make(*plugins: object, with_metrics: bool = True, **overrides: Any) -> Orchestrator:
        config = load_config(environ={}, overrides=overrides)
        extra = (metrics,) if with_metrics else ()
        orch = Orchestrator(
            config, plugins=(*plugins, *extra), clock=clock, entry_points=False, environ={}
        )
        await orch.start()
        built.append(orch)
        return orch

    yield make
    for orch in built:
        await orch.close()
