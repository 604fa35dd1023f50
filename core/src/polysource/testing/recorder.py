"""Capture of the events an orchestrator emits, for assertions in tests."""

from __future__ import annotations

from polysource.events import Event, EventKind
from polysource.hookspecs import hookimpl

__all__ = ["EventRecorder"]


class EventRecorder:
    """A plugin that records every event; pass it in ``Orchestrator(plugins=[recorder])``."""

    plugin_name = "polysource.testing.recorder"

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def on_event(self, event: Event) -> None:
        """Record the event."""
        self.events.append(event)

    def of(self, kind: EventKind | str) -> list[Event]:
        """The recorded events of one kind."""
        return [event for event in self.events if event.kind == kind]

    def kinds(self) -> list[str]:
        """Kinds of the recorded events, in order."""
        return [event.kind.value for event in self.events]

    def clear(self) -> None:
        """Forget what was recorded."""
        self.events.clear()

    def __len__(self) -> int:
        return len(self.events)
