"""A clock that moves only when told to, so tests of TTLs, breakers and backoff never sleep."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

__all__ = ["FakeClock"]

T = TypeVar("T")


class FakeClock:
    """A controllable `Clock`.

    ``sleep`` and ``timeout`` register timers on the fake timeline; `advance()` moves time
    forward and fires them in order, letting woken tasks run between timers. `run()`
    drives a coroutine to completion, advancing time whenever every task is waiting on it.

    Args:
        start: Initial monotonic time.
        wall: Initial wall-clock time (seconds since the epoch).
    """

    def __init__(self, start: float = 1000.0, wall: float = 1_767_225_600.0) -> None:
        self._now = start
        self._wall_offset = wall - start
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        """The fake monotonic time."""
        return self._now

    def time(self) -> float:
        """The fake wall-clock time; moves with the monotonic time."""
        return self._now + self._wall_offset

    def _call_at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), callback))

    async def sleep(self, delay: float) -> None:
        """Wait until the clock has been advanced by ``delay``."""
        if delay <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        self._call_at(self._now + delay, wake)
        await future

    def timeout(self, delay: float | None) -> AbstractAsyncContextManager[object]:
        """Cancel the block with ``TimeoutError`` once the clock passes ``delay``."""
        return self._timeout(delay)

    @asynccontextmanager
    async def _timeout(self, delay: float | None) -> AsyncIterator[object]:
        if delay is None:
            yield None
            return
        task = asyncio.current_task()
        assert task is not None
        state = {"fired": False, "done": False}

        def fire() -> None:
            if not state["done"]:
                state["fired"] = True
                task.cancel()

        self._call_at(self._now + max(0.0, delay), fire)
        try:
            yield None
        except asyncio.CancelledError:
            if state["fired"] and task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            state["done"] = True

    @property
    def next_timer(self) -> float | None:
        """When the next timer fires, or ``None``."""
        return self._timers[0][0] if self._timers else None

    async def settle(self, rounds: int = 20) -> None:
        """Let ready tasks run (yield to the loop a few times) without moving time."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing due timers in order."""
        target = self._now + seconds
        await self.settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, callback = heapq.heappop(self._timers)
            self._now = max(self._now, when)
            callback()
            await self.settle()
        self._now = target
        await self.settle()

    async def run(self, awaitable: Awaitable[T], *, limit: float = 86_400.0) -> T:
        """Drive ``awaitable`` to completion, jumping to the next timer whenever all wait.

        Raises:
            RuntimeError: Nothing can make progress (no timers left) or ``limit`` is passed.
        """
        task = asyncio.ensure_future(awaitable)
        deadline = self._now + limit
        while True:
            await self.settle()
            if task.done():
                return task.result()
            if not self._timers:
                task.cancel()
                raise RuntimeError("deadlock: the awaitable waits but no timer is pending")
            when = self._timers[0][0]
            if when > deadline:
                task.cancel()
                raise RuntimeError(f"not finished within {limit} fake seconds")
            await self.advance(max(0.0, when - self._now))

    def __repr__(self) -> str:
        return f"FakeClock(monotonic={self._now})"
