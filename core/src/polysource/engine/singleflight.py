"""Single-flight: identical requests in flight share one provider call.

The first caller (the leader) starts the work as a task owned by the orchestrator's
:class:`TaskSet`; every caller, the leader included, awaits it through ``asyncio.shield``, so a
caller that is cancelled or times out leaves the shared call running for the others. A failure
reaches every caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["SingleFlight", "TaskSet"]

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


class SingleFlight(Generic[T]):
    """A map from request key to the task computing it."""

    def __init__(self, tasks: TaskSet) -> None:
        self._tasks = tasks
        self._inflight: dict[Hashable, asyncio.Task[T]] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._inflight

    def __len__(self) -> int:
        return len(self._inflight)

    def start(self, key: Hashable, coro_factory: Any) -> tuple[asyncio.Task[T], bool]:
        """The task for ``key``, started with ``coro_factory()`` if none is in flight.

        Returns:
            The task and whether this caller started it (the leader).
        """
        task = self._inflight.get(key)
        if task is not None:
            return task, False
        task = self._tasks.spawn(coro_factory())
        self._inflight[key] = task
        task.add_done_callback(lambda _t: self._forget(key, task))
        return task, True

    def _forget(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
