"""Guards: bounded operations on a shared service, which is detached when one fails.

Redis and SQL going away must never fail a request a provider could answer. Every operation
on a shared service (the fleet's backend, a shared ``limits`` storage, a cache tier) runs
within a timeout; a failure *detaches* the service for a cool-down, during which callers skip
it (process-local state stands in) instead of waiting on it, and the first success afterwards
*re-attaches* it. Each change is an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Final, TypeVar

from polysource.clock import Clock
from polysource.engine.telemetry import Emitter
from polysource.events import EventKind

__all__ = ["FAILED", "Failed", "Guard"]

T = TypeVar("T")


class Failed:
    """The outcome of a guarded operation that failed or timed out (the one instance is
    :data:`FAILED`)."""

    def __repr__(self) -> str:
        return "FAILED"


FAILED: Final = Failed()


class Guard:
    """Bounds the operations on one shared service and detaches it when one fails.

    Every operation runs within ``timeout``; a failure detaches the service for ``cooldown``
    seconds (the callers go process-local meanwhile, and a ``fleet`` event says so), and the
    first success afterwards re-attaches it. The fleet is one; a ``limits`` storage named by
    ``rate_limit_storage`` apart from the fleet is another; each shared cache tier is one
    (with ``tier`` events).

    Args:
        name: The service's name in events.
        clock: For timeouts and cool-downs.
        emitter: For ``fleet`` events.
        timeout: Seconds any one operation may take.
        cooldown: Seconds the service stays detached after a failure.
        event: The kind of event that says so (``fleet`` or ``tier``); its detail names the
            service under the kind's name.
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        emitter: Emitter,
        *,
        timeout: float,
        cooldown: float,
        event: EventKind = EventKind.FLEET,
    ) -> None:
        self.name = name
        self.event = event
        self.clock = clock
        self.emitter = emitter
        self.timeout = timeout
        self.cooldown = cooldown
        self.detached_until = 0.0
        self.failures = 0

    def attached(self) -> bool:
        """Whether requests use the service now (else they run process-local)."""
        return self.clock.monotonic() >= self.detached_until

    def fail(self, exc: BaseException) -> None:
        """An operation failed with ``exc``: detach for the cool-down (an event, if it was
        attached)."""
        self.failures += 1
        was_attached = self.attached()
        self.detached_until = self.clock.monotonic() + self.cooldown
        if was_attached and self.emitter.wants[self.event]:
            self.emitter.emit(
                self.event,
                detail={
                    self.event.value: self.name,
                    "state": "detached",
                    "error": type(exc).__name__,
                },
            )

    async def run(self, operation: Awaitable[T], *, timed: bool = True) -> T | Failed:
        """Run an operation (within the timeout, if ``timed``); on failure detach and return
        FAILED."""
        try:
            if timed:
                async with self.clock.timeout(self.timeout):
                    outcome = await operation
            else:
                outcome = await operation
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a shared service failing never fails a request
            self.fail(exc)
            return FAILED
        if self.detached_until:
            self.recover()
        return outcome

    def recover(self) -> None:
        """The service answered after a failure: it is attached again."""
        self.detached_until = 0.0
        if self.emitter.wants[self.event]:
            self.emitter.emit(self.event, detail={self.event.value: self.name, "state": "attached"})
        self._reattached()

    def _reattached(self) -> None:
        """Called when the service answers again after a failure."""
