"""Test helpers for applications and plugin authors: public, documented API.

- :class:`FakeClock`: a clock that moves only when told to.
- :class:`FakeProvider`: a provider scripted per key (answers, errors, latency, call counts).
- :class:`EventRecorder`: a plugin that records events.
- :class:`FakeCacheBackend`, :class:`FakeCacheBackends`: a shared cache tier double
  (``fake://NAME``) that can fail or hang on demand.
- :class:`FakeFleetBackends`, :class:`FakeFleetBackend`, :class:`FakeFleetServer`: a fleet
  backend double (``fake://NAME``): several orchestrators of one test share its counters,
  leases and channel, and it can fail, hang or drop messages on demand.
- :func:`recorded_http`: recorded HTTP answers (``aioresponses``) for a provider's tests.
- :class:`ProviderConformance`, :class:`FetchCase`, :class:`ErrorCase`: the conformance suite.
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
