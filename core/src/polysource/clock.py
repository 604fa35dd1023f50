"""One injectable source of time for everything time-based (TTLs, breakers, backoff, deadlines).

Production code uses [`SystemClock`][polysource.clock.SystemClock]; tests use
[`polysource.testing.FakeClock`][polysource.testing.FakeClock],
which advances only when told to, so no test sleeps.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from typing import Protocol, final, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """The time source: monotonic seconds for intervals, wall seconds for timestamps."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; for TTLs, deadlines and latency."""
        ...

    def time(self) -> float:
        """Seconds since the epoch; for timestamps shown to people and stored in logs."""
        ...

    async def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds of this clock's time."""
        ...

    def timeout(self, delay: float | None) -> AbstractAsyncContextManager[object]:
        """A context manager that cancels its block after ``delay`` seconds of this clock."""
        ...


@final
class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time`` and the event loop's timers
    (``timeout`` is ``asyncio.timeout``)."""

    __slots__ = ()

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    async def sleep(self, delay: float) -> None:
        """Sleep on the running event loop."""
        await asyncio.sleep(max(0.0, delay))

    def timeout(self, delay: float | None) -> AbstractAsyncContextManager[object]:
        """A block that raises ``TimeoutError`` after ``delay`` seconds (``None``: no limit)."""
        return asyncio.timeout(delay)

    def __repr__(self) -> str:
        return "SystemClock()"
