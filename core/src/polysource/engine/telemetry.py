"""Event emission: sinks resolved once per kind, events built only when someone listens."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from polysource.clock import Clock
from polysource.events import Event, EventKind
from polysource.security import Keyring

__all__ = ["Emitter"]

Sink = Callable[..., Any]


def _kinds(sink: Sink, kind: EventKind) -> Iterable[EventKind]:
    """The kinds a sink asked for: on the function, or on the plugin object it is bound to."""
    kinds = getattr(sink, "event_kinds", None)
    if kinds is None:
        kinds = getattr(getattr(sink, "__self__", None), "event_kinds", None)
    return (kind,) if kinds is None else kinds


class Emitter:
    """Delivers events to ``on_event`` sinks.

    A sink may carry ``event_kinds`` (a collection of kinds); it then receives only those.
    ``wants[kind]`` is a plain bool the engine checks before building an event. A sink that
    raises is counted in ``sink_errors`` and ignored: telemetry never fails a request.

    Args:
        sinks: The ``on_event`` implementations.
        clock: For event timestamps.
        keyring: Gives the pseudonym of each tenant and of each private dataset's key (default:
            a keyring of this emitter's own).
    """

    def __init__(self, sinks: Iterable[Sink], clock: Clock, keyring: Keyring | None = None) -> None:
        self.clock = clock
        self._pseudonym = (keyring or Keyring()).pseudonym
        self.sink_errors = 0
        self._by_kind: dict[EventKind, tuple[Sink, ...]] = {}
        sinks = tuple(sinks)
        for kind in EventKind:
            self._by_kind[kind] = tuple(sink for sink in sinks if kind in _kinds(sink, kind))
        self.wants: dict[EventKind, bool] = {k: bool(v) for k, v in self._by_kind.items()}

    def emit(
        self,
        kind: EventKind,
        *,
        dataset: str | None = None,
        key: str | None = None,
        private: bool = False,
        tenant: str | None = None,
        **fields: Any,
    ) -> None:
        """Build and deliver an event if any sink wants ``kind``; a private dataset's key is shown
        as its pseudonym."""
        sinks = self._by_kind[kind]
        if not sinks:
            return
        if private and key is not None:
            key = self._pseudonym(key)
        detail = fields.pop("detail", None) or {}
        event = Event(
            kind,
            self.clock.time(),
            dataset=dataset,
            key=key,
            tenant=self._pseudonym(tenant) if tenant is not None else None,
            detail=detail,
            **fields,
        )
        for sink in sinks:
            try:
                sink(event=event)
            except Exception:  # noqa: BLE001 - a broken sink must not fail the request
                self.sink_errors += 1
