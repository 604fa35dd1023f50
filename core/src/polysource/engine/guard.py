"""Guards: bounded operations on a shared service, which is detached when one fails.

Redis and SQL going away must never fail a request a provider could answer. Every operation
on a shared service (the fleet's backend, a shared ``limits`` storage, a cache tier) runs
within a timeout; a failure *detaches* the service for a cool-down, during which callers skip
it (process-local state stands in) instead of waiting on it, and the first success afterwards
*re-attaches* it. Each change is an event.

A timeout only says the service failed if the timer that ended the operation ran on time. When
the event loop itself is saturated (many callers, or a callback that blocks it), a timer runs
late and the reply that already arrived is not read in time: the operation is then a miss for
its caller, counted in ``lagged``, but the service stays attached, since it was the loop, not
the service, that was slow. So does an operation that a backend could not start because this
process already had as many in flight as the backend allows
([`TierBusy`][polysource.engine.guard.TierBusy], a full
connection pool).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Final, TypeVar

from polysource.cache.tiers import TierBusy
from polysource.clock import Clock
from polysource.engine.telemetry import Emitter
from polysource.events import EventKind

__all__ = ["FAILED", "LATE", "Failed", "Guard"]

T = TypeVar("T")


class Failed:
    """The outcome of a guarded operation that failed or timed out (the one instance is
    [`FAILED`][polysource.engine.guard.FAILED])."""

    def __repr__(self) -> str:
        return "FAILED"


FAILED: Final = Failed()

LATE: Final = 2.0
"""A timeout that surfaces this many times its bound after the operation started came from a
timer the event loop ran late: the loop was saturated, not the service slow."""


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
        self.lagged = 0
        """Operations that timed out because the event loop ran their timer late, or that the
        backend could not start for want of a free connection (misses that left the service
        attached)."""

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
        FAILED.

        Without ``timed`` the operation bounds itself (socket timeouts on the event loop's
        clock, which is ``time.monotonic``), so its start is taken on that clock; else on
        ours, which times it.
        """
        started = self.clock.monotonic() if timed else time.monotonic()
        try:
            if timed:
                async with self.clock.timeout(self.timeout):
                    outcome = await operation
            else:
                outcome = await operation
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a shared service failing never fails a request
            if isinstance(exc, TierBusy) or self._late(exc, started, timed):
                self.lagged += 1
                return FAILED
            self.fail(exc)
            return FAILED
        if self.detached_until:
            self.recover()
        return outcome

    def _late(self, exc: Exception, started: float, timed: bool) -> bool:
        """Whether ``exc`` is a timeout whose timer ran
        [`LATE`][polysource.engine.guard.LATE] times its bound or more
        after ``started``: the event loop was late, not the service."""
        if not isinstance(exc, TimeoutError) and "Timeout" not in type(exc).__name__:
            return False
        now = self.clock.monotonic() if timed else time.monotonic()
        return now - started >= LATE * self.timeout

    def recover(self) -> None:
        """The service answered after a failure: it is attached again."""
        self.detached_until = 0.0
        if self.emitter.wants[self.event]:
            self.emitter.emit(self.event, detail={self.event.value: self.name, "state": "attached"})
        self._reattached()

    def _reattached(self) -> None:
        """Called when the service answers again after a failure."""
