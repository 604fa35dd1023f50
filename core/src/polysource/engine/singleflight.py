"""Single-flight: identical requests in flight share one provider call.

The first caller (the leader) starts the work as a task owned by the orchestrator's
[`TaskSet`][polysource.engine.singleflight.TaskSet]; callers never await the task itself, so none
of them can cancel it.

- Callers on the engine's path wait on a future of their own
([`Flight.wait()`][polysource.engine.singleflight.Flight.wait]): a caller
  that is cancelled or times out cancels only its own waiter. (This is what ``asyncio.shield``
  builds too, at about three times the cost.)
- Callers joining through the orchestrator's fast path all await one shared future
  ([`Flight.shared_future()`][polysource.engine.singleflight.Flight.shared_future]), which is as
  cheap as a dict of futures. If one of them is
  cancelled, the shared future is cancelled with it; the others see a ``CancelledError`` that
  their own task did not ask for (``task.cancelling() == 0``) and wait again on a fresh future.

Either way a failure reaches every caller.

A ``fetch_many`` does the work of its keys itself (in provider batches), so it *opens* a flight
per key ([`SingleFlight.open()`][polysource.engine.singleflight.SingleFlight.open]) and settles
each when its batch ends
([`SingleFlight.close()`][polysource.engine.singleflight.SingleFlight.close]): a ``fetch`` or
another batch of the same key meanwhile joins it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Flight", "SingleFlight", "TaskSet"]

T = TypeVar("T")


class TaskSet:
    """Tasks owned by an orchestrator: referenced while they run, cancelled and awaited on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Start ``coro`` as a task kept until it finishes."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task and wait for them to finish."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


class Flight(Generic[T]):
    """One shared call and the callers waiting for it.

    Attributes:
        key: The single-flight key.
        task: The task doing the work.
        deadline: Monotonic time by which the task gives up.
        context: Whatever the starter attached (used to serve joiners).
        shared: A value computed once for all joiners (set by the engine).
    """

    __slots__ = (
        "_new_future",
        "_outcome",
        "context",
        "deadline",
        "future",
        "key",
        "shared",
        "task",
        "waiters",
    )

    def __init__(self, key: Hashable, deadline: float, context: Any = None) -> None:
        self.key = key
        self.deadline = deadline
        self.context = context
        self.shared: Any = None
        self.waiters: list[asyncio.Future[T]] | None = []
        self.task: asyncio.Task[T] | None = None
        self.future: asyncio.Future[T] | None = None
        self._outcome: tuple[T | None, BaseException | None] = (None, None)
        """How a flight without a task (opened by a batch) ended."""
        self._new_future = asyncio.get_running_loop().create_future

    def abandoned(self) -> bool:
        """Whether the shared call itself was cancelled (the orchestrator is closing)."""
        return self.task is not None and self.task.cancelled()

    def shared_future(self) -> asyncio.Future[T]:
        """The future the fast-path joiners share (a fresh one if a joiner cancelled it)."""
        future = self.future
        if future is None or future.cancelled():
            future = self.future = self._new_future()
            if self.waiters is None:  # already finished
                self._resolve_ended(future)
        return future

    def wait(self) -> asyncio.Future[T]:
        """A future of this caller's own that resolves with the shared outcome."""
        waiter: asyncio.Future[T] = self._new_future()
        waiters = self.waiters
        if waiters is not None:
            waiters.append(waiter)
        else:
            self._resolve_ended(waiter)
        return waiter

    def _resolve_ended(self, waiter: asyncio.Future[T]) -> None:
        """Resolve ``waiter`` with the outcome of this flight, which has ended."""
        if self.task is not None:
            self._resolve(waiter, self.task)
            return
        value, error = self._outcome
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(value)  # type: ignore[arg-type]

    @staticmethod
    def _resolve(waiter: asyncio.Future[T], task: asyncio.Task[T]) -> None:
        if waiter.done():
            return
        if task.cancelled():
            waiter.cancel()
            return
        error = task.exception()
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(task.result())

    def _settle(
        self, value: T | None, error: BaseException | None, cancelled: bool = False
    ) -> None:
        waiters, self.waiters = self.waiters, None
        if waiters is None:
            return
        self._outcome = (value, error)
        if self.future is not None:
            waiters.append(self.future)
        for waiter in waiters:
            if waiter.done():
                continue
            if cancelled:
                waiter.cancel()
            elif error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(value)  # type: ignore[arg-type]

    def _done(self, task: asyncio.Task[T]) -> None:
        if task.cancelled():
            self._settle(None, None, cancelled=True)
        else:
            self._settle(None, task.exception())

    async def run(self, work: Coroutine[Any, Any, T], finish: Callable[[], None]) -> T:
        """Run ``work`` and wake every waiter from inside the task's last step.

        Waking them here, rather than from the task's done callback, saves one turn of the
        event loop on every miss.
        """
        try:
            value = await work
        except Exception as exc:
            finish()
            self._settle(None, exc)
            raise
        finish()
        self._settle(value, None)
        return value


class SingleFlight(Generic[T]):
    """A map from request key to the flight computing it."""

    def __init__(self, tasks: TaskSet) -> None:
        self._tasks = tasks
        self._inflight: dict[Hashable, Flight[T]] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._inflight

    def get(self, key: Hashable) -> Flight[T] | None:
        """The flight in progress for ``key``, if any."""
        return self._inflight.get(key)

    def __len__(self) -> int:
        return len(self._inflight)

    def open(self, key: Hashable, deadline: float, context: Any = None) -> Flight[T] | None:
        """A flight for ``key`` whose work the caller does itself, then ends with `close()`;
        ``None`` if ``key`` is in flight already (join that one instead)."""
        if key in self._inflight:
            return None
        flight: Flight[T] = Flight(key, deadline, context)
        self._inflight[key] = flight
        return flight

    def close(
        self, flight: Flight[T], value: T | None = None, error: BaseException | None = None
    ) -> None:
        """End a flight from `open()`: its waiters get ``value``, or ``error`` if given."""
        if self._inflight.get(flight.key) is flight:
            del self._inflight[flight.key]
        flight._settle(value, error)

    def start(
        self,
        key: Hashable,
        coro_factory: Callable[[], Coroutine[Any, Any, T]],
        deadline: float,
        context: Any = None,
        on_done: Callable[[Flight[T]], None] | None = None,
    ) -> tuple[Flight[T], bool]:
        """The flight for ``key``, started with ``coro_factory()`` if none is in flight.

        Returns:
            The flight and whether this caller started it (the leader).
        """
        flight = self._inflight.get(key)
        if flight is not None:
            return flight, False
        flight = Flight(key, deadline, context)
        self._inflight[key] = flight

        def finish() -> None:
            if self._inflight.get(key) is flight:
                del self._inflight[key]
            if on_done is not None:
                on_done(flight)

        task = self._tasks.spawn(flight.run(coro_factory(), finish))
        flight.task = task

        def finished(done: asyncio.Task[T]) -> None:
            if flight.waiters is not None:  # cancelled before it could settle itself
                finish()
                flight._done(done)
            if not done.cancelled():
                done.exception()  # retrieved: the waiters carry it

        task.add_done_callback(finished)
        return flight, True
