"""The engine's objects are built complete: collaborators are passed in, never patched on."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from polysource.config import ProviderConfig
from polysource.engine.attempt import ProviderSlot
from polysource.engine.fleet import Fleet
from polysource.engine.singleflight import TaskSet
from polysource.engine.telemetry import Emitter
from polysource.models import BreakerState
from polysource.security import Keyring
from polysource.testing import FakeFleetBackend, FakeFleetServer, FakeProvider

ENGINE = Path(__file__).parents[2] / "core" / "src" / "polysource" / "engine"


class _Observer:
    """A breaker observer that records what it is told."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, BreakerState]] = []

    def breaker_changed(self, slot: ProviderSlot, new: BreakerState) -> None:
        self.changes.append((slot.name, new))

    async def count_failure(self, slot: ProviderSlot) -> None:
        return None

    def clear_failures(self, slot: ProviderSlot) -> None:
        return None

    async def claim_trial(self, slot: ProviderSlot) -> bool:
        return True

    def release_trial(self, slot: ProviderSlot) -> None:
        return None


def test_breaker_reports_to_the_observer_it_was_built_with(clock):
    """A provider slot built with an observer tells it when its breaker changes state."""
    provider = FakeProvider("a", clock=clock)
    observer = _Observer()
    slot = ProviderSlot(
        provider,
        provider.info,
        ProviderConfig(),
        clock,
        Emitter([], clock),
        random.Random(1),
        fleet=observer,
    )
    slot.breaker.trip()
    assert observer.changes == [("a", BreakerState.OPEN)]


def test_attempt_does_not_import_the_fleet():
    """The attempt stage knows the fleet only as its breaker observer (no import cycle)."""
    source = (ENGINE / "attempt.py").read_text(encoding="utf-8")
    assert "engine.fleet" not in source


def test_fleet_is_built_with_its_invalidation_callbacks(clock):
    """The fleet takes what it calls on an invalidation and on a rejoin when it is built."""
    dropped: list[Any] = []
    backend = FakeFleetBackend(FakeFleetServer("f", clock))
    fleet = Fleet(
        backend,
        clock,
        Emitter([], clock),
        TaskSet(),
        keyring=Keyring(),
        on_invalidate=dropped.append,
        on_rejoin=dropped.clear,
    )
    assert fleet.on_invalidate == dropped.append and fleet.on_rejoin == dropped.clear
