"""Test helpers for applications and plugin authors: public, documented API.

- [`FakeClock`][polysource.testing.FakeClock]: a clock that moves only when told to.
- [`FakeProvider`][polysource.testing.FakeProvider]: a provider scripted per key (answers, errors,
latency, call counts).
- [`EventRecorder`][polysource.testing.EventRecorder]: a plugin that records events.
- [`FakeCacheBackend`][polysource.testing.FakeCacheBackend],
[`FakeCacheBackends`][polysource.testing.FakeCacheBackends]: a shared cache tier double
  (``fake://NAME``) that can fail or hang on demand.
- [`FakeFleetBackends`][polysource.testing.FakeFleetBackends],
[`FakeFleetBackend`][polysource.testing.FakeFleetBackend],
[`FakeFleetServer`][polysource.testing.FakeFleetServer]: a fleet
  backend double (``fake://NAME``): several orchestrators of one test share its counters,
  leases and channel, and it can fail, hang or drop messages on demand.
- [`recorded_http()`][polysource.testing.recorded_http]: recorded HTTP answers (``aioresponses``)
for a provider's tests.
- [`ProviderConformance`][polysource.testing.ProviderConformance],
[`FetchCase`][polysource.testing.FetchCase], [`ErrorCase`][polysource.testing.ErrorCase]: the
conformance suite.
- ``polysource.testing.pytest_plugin``: opt-in fixtures ``clock``, ``events``,
  ``make_orchestrator``.
"""

from polysource.testing.backend import FakeCacheBackend, FakeCacheBackends
from polysource.testing.clock import FakeClock
from polysource.testing.conformance import (
    ErrorCase,
    FetchCase,
    OperationCase,
    OperationErrorCase,
    ProviderConformance,
)
from polysource.testing.fakes import FakeProvider
from polysource.testing.fleet import FakeFleetBackend, FakeFleetBackends, FakeFleetServer
from polysource.testing.http import recorded_http
from polysource.testing.recorder import EventRecorder

__all__ = [
    "ErrorCase",
    "EventRecorder",
    "FakeCacheBackend",
    "FakeCacheBackends",
    "FakeClock",
    "FakeFleetBackend",
    "FakeFleetBackends",
    "FakeFleetServer",
    "FakeProvider",
    "FetchCase",
    "OperationCase",
    "OperationErrorCase",
    "ProviderConformance",
    "recorded_http",
]
