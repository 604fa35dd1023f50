"""One injectable source of time for everything time-based (TTLs, breakers, backoff, deadlines).

Production code uses :class:`SystemClock`; tests use :class:`polysource.testing.FakeClock`,
which advances only when told to, so no test sleeps.
"""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Final, Protocol, final, runtime_checkable

__all__ = ["RESOLUTION", "Clock", "SystemClock"]

RESOLUTION: Final = 0.005
"""Granularity of :class:`SystemClock` timeouts, in seconds."""


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


class _Wheel:
    """Timeout buckets for one event loop: one loop timer per slot, not one per timeout."""

    __slots__ = ("_buckets", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[int, dict[_Timeout, None]] = {}

    def add(self, when: float, timeout: _Timeout) -> int:
        slot = math.ceil(when / RESOLUTION)
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = {}
            self._loop.call_at(slot * RESOLUTION, self._fire, slot)
        bucket[timeout] = None
        return slot

    def remove(self, slot: int, timeout: _Timeout) -> None:
        bucket = self._buckets.get(slot)
        if bucket is not None:
            bucket.pop(timeout, None)

    def _fire(self, slot: int) -> None:
        for timeout in self._buckets.pop(slot, {}):
            timeout.expire()


class _Timeout:
    """``asyncio.timeout`` semantics on a shared wheel (cancel, then ``TimeoutError``)."""

    __slots__ = ("_cancelling", "_clock", "_delay", "_expired", "_slot", "_task", "_wheel")

    def __init__(self, delay: float | None, clock: SystemClock) -> None:
        self._delay = delay
        self._wheel: _Wheel | None = None
        self._expired = False
        self._clock = clock

    async def __aenter__(self) -> None:
        if self._delay is None:
            return
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("timeout() must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        loop = task.get_loop()
        self._wheel = wheel = self._clock._wheel_for(loop)
        self._slot = wheel.add(loop.time() + self._delay, self)

    def expire(self) -> None:
        self._expired = True
        self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        wheel = self._wheel
        if wheel is None:
            return
        if not self._expired:
            wheel.remove(self._slot, self)
            return
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


@final
class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time`` and the event loop's timers.

    Its ``timeout`` puts timeouts into 5 ms buckets that share one loop timer each, so a try
    costs a dict insert and delete instead of a timer of its own (``asyncio.timeout`` costs
    about 3 us a use here, most of a resilience wrapper's budget). A timeout fires at most
    5 ms late.
    """

    __slots__ = ("_loop", "_wheel")

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wheel: _Wheel | None = None

    def _wheel_for(self, loop: asyncio.AbstractEventLoop) -> _Wheel:
        if self._loop is not loop or self._wheel is None:
            self._loop = loop
            self._wheel = _Wheel(loop)
        return self._wheel

    async def sleep(self, delay: float) -> None:
        """Sleep on the running event loop."""
        await asyncio.sleep(max(0.0, delay))

    def timeout(self, delay: float | None) -> AbstractAsyncContextManager[object]:
        """A block that raises ``TimeoutError`` after ``delay`` seconds (``None``: no limit)."""
        return _Timeout(delay, self)

    def __repr__(self) -> str:
        return "SystemClock()"
