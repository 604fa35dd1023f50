"""Opt-in pytest plugin for testing code built on polysource.

Enable it in a ``conftest.py``:

    pytest_plugins = ["polysource.testing.pytest_plugin"]

It provides the fixtures ``clock`` (a `FakeClock`), ``events`` (an
`EventRecorder`) and ``make_orchestrator`` (a factory of started orchestrators that
load only the plugins given, never installed entry points, and are closed after the test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from polysource.config import Config, load_config
from polysource.orchestrator import Orchestrator
from polysource.testing.clock import FakeClock
from polysource.testing.recorder import EventRecorder


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for the test."""
    return FakeClock()


@pytest.fixture
def events() -> EventRecorder:
    """An event recorder, added to every orchestrator built by ``make_orchestrator``."""
    return EventRecorder()


@pytest_asyncio.fixture
async def make_orchestrator(
    clock: FakeClock, events: EventRecorder
) -> AsyncIterator[Callable[..., Awaitable[Orchestrator]]]:
    """Factory: ``await make_orchestrator(*plugins, config=..., **overrides)``, started."""
    built: list[Orchestrator] = []

    async def factory(
        *plugins: object, config: Config | None = None, **overrides: Any
    ) -> Orchestrator:
        if config is None:
            config = load_config(environ={}, overrides=overrides)
        orch = Orchestrator(
            config, plugins=(*plugins, events), clock=clock, entry_points=False, environ={}
        )
        await orch.start()
        built.append(orch)
        return orch

    yield factory
    for orch in built:
        await orch.close()
