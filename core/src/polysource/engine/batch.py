"""Batching: ``fetch_many`` and the coalescing of concurrent single fetches (DataLoader style).

- [`Coalescer`][polysource.engine.batch.Coalescer]: single ``fetch`` calls for a batch-capable
provider that arrive within
  one short window (by default, the same turn of the event loop) are sent as one
  ``fetch_batch`` per ``max_batch_size`` keys. The batch call goes through the attempt stage
  once, so breakers, rate limits and budgets count provider calls, not keys. Each caller waits
  on a future of its own; a key the batch did not return is ``not_found`` for that caller,
  who then fails over as usual. A retry of the batch must leave every caller's next provider
  its full per-try timeout (see ``attempt``'s ``reserve``).
- [`fetch_many()`][polysource.engine.batch.fetch_many]: cache first; misses grouped into provider
batches of at most
  ``max_batch_size``, run concurrently under a bound; keys a batch did not return fail over
  per key to the next provider. Each provider's retries leave the next provider of the walk
  its full per-try timeout, as in ``fetch``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from polysource.engine.attempt import ProviderSlot, accepted, attempt
from polysource.errors import ErrorCategory, ProviderError, stops_failover
from polysource.events import EventKind
from polysource.models import Request

if TYPE_CHECKING:
    from polysource.engine.call import ProviderCalls
    from polysource.engine.singleflight import TaskSet

__all__ = ["Coalescer", "chunks", "load_batch"]


def chunks(keys: Sequence[str], size: int) -> list[list[str]]:
    """``keys`` cut into lists of at most ``size``."""
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


def _missing(slot: ProviderSlot, key: str) -> ProviderError:
    return ProviderError(
        f"{key!r} not in the batch answer", provider=slot.name, category=ErrorCategory.NOT_FOUND
    )


async def load_batch(
    slot: ProviderSlot,
    request: Request,
    keys: Sequence[str],
    deadline: float,
    reserve: float | None = None,
) -> dict[str, Any]:
    """One ``fetch_batch`` call through the attempt stage; answers outside ``keys`` dropped.

    ``reserve`` is the per-try timeout of the next provider the keys would fail over to
    (``None`` if there is none), which the batch's retries must leave before ``deadline``.

    Raises:
        ProviderError: The batch call failed (after retries); it applies to every key.
    """
    provider: Any = slot.provider
    dataset = request.dataset

    async def call() -> dict[str, Any]:
        answer = await provider.fetch_batch(request, keys)
        wanted = set(keys)
        # One answer: a value that is not acceptable fails the batch (its keys fail over).
        return {
            key: accepted(slot.name, dataset, value)
            for key, value in answer.items()
            if key in wanted
        }

    slot.batches += 1
    if slot.emitter.wants[EventKind.BATCH]:
        slot.emitter.emit(
            EventKind.BATCH,
            dataset=request.dataset.name,
            provider=slot.name,
            detail={"keys": len(keys)},
        )
    return await attempt(
        slot,
        call,
        target=request.dataset.name,
        deadline=deadline,
        private=request.dataset.private,
        reserve=reserve,
    )


class _Group:
    __slots__ = ("deadline", "request", "reserve", "waiters")

    def __init__(self, request: Request, deadline: float, reserve: float | None) -> None:
        self.request = request
        self.deadline = deadline
        self.reserve = reserve
        self.waiters: dict[str, list[asyncio.Future[Any]]] = {}

    def join(self, deadline: float, reserve: float | None) -> None:
        """Hold the batch to the tightest caller: the earliest deadline, the longest reserve."""
        self.deadline = min(self.deadline, deadline)
        if reserve is not None and (self.reserve is None or reserve > self.reserve):
            self.reserve = reserve


class Coalescer:
    """Collects single fetches for one batch-capable provider and sends them as batches.

    Args:
        slot: The provider.
        tasks: Owner of the dispatch tasks.
        window: Seconds to wait for more keys after the first (0: the same loop turn).
    """

    def __init__(self, slot: ProviderSlot, tasks: TaskSet, window: float = 0.0) -> None:
        self.slot = slot
        self.tasks = tasks
        self.window = window
        self.size = slot.info.max_batch_size
        self._groups: dict[tuple[Any, ...], _Group] = {}

    async def load(self, request: Request, deadline: float, reserve: float | None = None) -> Any:
        """The value for ``request.key``, fetched in a batch with other concurrent keys.

        ``reserve`` is the per-try timeout of the caller's next provider (``None`` if there is
        none): the batch is retried only if that leaves every caller's next provider a try.
        """
        group_key = (
            request.dataset.name,
            request.region,
            request.tier,
            request.tenant,
            request.connection,
        )
        group = self._groups.get(group_key)
        if group is None:
            group = self._groups[group_key] = _Group(request, deadline, reserve)
            self.tasks.spawn(self._dispatch(group_key, group))
        group.join(deadline, reserve)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        group.waiters.setdefault(request.key, []).append(waiter)
        return await waiter

    async def _dispatch(self, group_key: tuple[Any, ...], group: _Group) -> None:
        await self.slot.clock.sleep(self.window)
        if self._groups.get(group_key) is group:
            del self._groups[group_key]
        keys = list(group.waiters)
        async with asyncio.TaskGroup() as batches:
            for part in chunks(keys, self.size):
                batches.create_task(self._send(group, part))

    async def _send(self, group: _Group, keys: list[str]) -> None:
        try:
            answer = await load_batch(self.slot, group.request, keys, group.deadline, group.reserve)
        except ProviderError as error:
            for key in keys:
                for waiter in group.waiters[key]:
                    if not waiter.done():
                        waiter.set_exception(error)
            return
        except BaseException:
            for key in keys:
                for waiter in group.waiters[key]:
                    waiter.cancel()
            raise
        for key in keys:
            for waiter in group.waiters[key]:
                if waiter.done():
                    continue
                if key in answer:
                    waiter.set_result(answer[key])
                else:
                    waiter.set_exception(_missing(self.slot, key))


async def walk_many(
    calls: ProviderCalls,
    slots: Sequence[ProviderSlot],
    request: Request,
    keys: Sequence[str],
    deadline: float,
    concurrency: int,
) -> tuple[dict[str, tuple[Any, str, int]], dict[str, list[ProviderError]], int]:
    """Serve ``keys`` from ``slots`` in failover order, batching where a provider can.

    Every call goes through ``calls``, so a batch walk retries exactly when a single fetch
    would (the reserve rule) and reads a private dataset with the tenant's connections.

    Returns:
        Values by key as ``(value, provider, calls)``, the errors of each key, the number of
        batch calls made.
    """
    slots = list(slots)
    remaining = list(dict.fromkeys(keys))
    values: dict[str, tuple[Any, str, int]] = {}
    errors: dict[str, list[ProviderError]] = {key: [] for key in remaining}
    batches = 0
    bound = asyncio.Semaphore(concurrency)
    for index, slot in enumerate(slots):
        if not remaining:
            break
        batched = slot.info.max_batch_size > 1 and hasattr(slot.provider, "fetch_batch")
        leave = calls.reserve(slots, index)

        async def one_batch(
            part: list[str], slot: ProviderSlot = slot, leave: float | None = leave
        ) -> None:
            async with bound:
                try:
                    answer = await calls.fetch_batch(slot, request, part, deadline, leave)
                except ProviderError as error:
                    for key in part:
                        errors[key].append(error)
                    return
            for key in part:
                if key in answer:
                    values[key] = (answer[key], slot.name, 1)
                else:
                    errors[key].append(_missing(slot, key))

        async def one_key(key: str, slot: ProviderSlot = slot, leave: float | None = leave) -> None:
            async with bound:
                single = Request(
                    request.dataset,
                    key,
                    request.region,
                    request.tier,
                    request.tenant,
                    request.connection,
                    deadline,
                )
                before = slot.attempts
                try:
                    value = await calls.fetch(slot, single, deadline, leave, coalesce=False)
                except ProviderError as error:
                    errors[key].append(error)
                    return
                values[key] = (value, slot.name, slot.attempts - before)

        async with asyncio.TaskGroup() as group:
            if batched:
                for part in chunks(remaining, slot.info.max_batch_size):
                    batches += 1
                    group.create_task(one_batch(part))
            else:
                for key in remaining:
                    group.create_task(one_key(key))
        remaining = [
            key
            for key in remaining
            if key not in values and not (errors[key] and stops_failover(errors[key][-1]))
        ]
    return values, errors, batches
