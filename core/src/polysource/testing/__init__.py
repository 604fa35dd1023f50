"""Test helpers for applications and plugin authors: public, documented API.

- :class:`FakeClock`: a clock that moves only when told to.
- :class:`FakeProvider`: a provider scripted per key (answers, errors, latency, call counts).
- :class:`EventRecorder`: a plugin that records events.
- :class:`ProviderConformance`, :class:`FetchCase`, :class:`ErrorCase`: the conformance suite.
- ``polysource.testing.pytest_plugin``: opt-in fixtures ``clock``, ``events``,
  ``make_orchestrator``.
"""

from polysource.testing.clock import FakeClock
from polysource.testing.conformance import (
    ErrorCase,
    FetchCase,
    OperationCase,
    OperationErrorCase,
    ProviderConformance,
)
from polysource.testing.fakes import FakeProvider
from polysource.testing.recorder import EventRecorder

__all__ = [
    "ErrorCase",
    "EventRecorder",
    "FakeClock",
    "FakeProvider",
    "FetchCase",
    "OperationCase",
    "OperationErrorCase",
    "ProviderConformance",
]
