"""Per-provider rate limits with the ``limits`` package.

Limits are written in ``limits`` notation (``"10/second"``, ``"1000/day"``). The default
storage is ``limits``' in-process memory storage with the fixed-window strategy; a shared
storage (Redis) can be passed in for fleet-wide limits. ``limits`` reads the system clock for
its windows; tests exercise exhaustion, not window expiry.

A shared limit costs a Redis round trip, so fleet-wide permits are *leased* in blocks: one
round trip takes ``block`` permits of the current window (a hundredth of the limit, at most
1,000), which are then handed out locally until they run out or the window ends (leftovers
are dropped, never carried over, so the limit is never exceeded). A lease is one round trip:
``storage.incr`` of a counter for the current window, whose windows are aligned on the epoch
(``floor(now / period)``), so the process knows when the window ends without asking. The count
that ``incr`` returns says how many of the block fit under the limit (the tail of a window is
handed out too); the counter may pass the limit, which only tells every later renewal in that
window that nothing is left.

``limits`` is imported when a limiter or a shared storage is built, not with this module:
importing it loads every storage backend's module.
"""

from __future__ import annotations

import math
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from polysource.redaction import mask_url

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.storage import Storage as AsyncStorage
    from limits.storage import Storage

__all__ = ["RateLimiter", "close_shared_storage", "lease_window", "shared_storage"]


async def lease_window(
    storage: AsyncStorage, item: RateLimitItem, name: str, amount: int, now: float
) -> tuple[int, float]:
    """Take up to ``amount`` units of ``item``'s current window from a shared storage.

    One round trip (``incr``). Windows are aligned on the epoch, so the window's end is known.

    Returns:
        The units granted (0 when the window is spent) and the time the window ends.
    """
    seconds = item.get_expiry()
    window = math.floor(now / seconds)
    count = await storage.incr(item.key_for(name, "w", str(window)), seconds + 1, amount)
    granted = min(amount, item.amount - (count - amount))
    return max(0, granted), (window + 1) * seconds


async def close_shared_storage(storage: AsyncStorage) -> None:
    """Close the connections of a shared storage.

    ``limits`` has no close method of its own; its Redis storages keep their client on
    ``storage.bridge.storage`` (redis-py) or ``storage.storage``.
    """
    holder = getattr(storage, "bridge", storage)
    client = getattr(holder, "storage", None)
    close = getattr(client, "aclose", None) or getattr(client, "close", None)
    if close is not None:
        outcome = close()
        if hasattr(outcome, "__await__"):
            await outcome


def shared_storage(uri: str, prefix: str, timeout: float | None = None) -> AsyncStorage:
    """An async ``limits`` storage for fleet-wide limits, e.g. ``async+redis://host:6379/0``.

    Redis URIs use redis-py (``implementation="redispy"``) with socket timeouts of ``timeout``
    seconds, if given (redis-py has none by default: a hung server would hold a call until the
    engine's own bound); keys start with ``prefix``.
    """
    from limits.aio.storage import Storage as AsyncStorage
    from limits.storage import storage_from_string

    options: dict[str, Any] = {"key_prefix": prefix}
    if uri.startswith(("async+redis://", "async+rediss://", "async+redis+cluster://")):
        options["implementation"] = "redispy"
        if timeout is not None:
            options["socket_timeout"] = options["socket_connect_timeout"] = timeout
    storage = storage_from_string(uri, **options)
    if not isinstance(storage, AsyncStorage):
        raise TypeError(f"{mask_url(uri)!r} is not an async storage (write async+redis://...)")
    return storage


class _Lease:
    __slots__ = ("block", "item", "permits", "until")

    def __init__(self, item: RateLimitItem) -> None:
        self.item = item
        self.block = max(1, min(1000, item.amount // 100))
        self.permits = 0
        self.until = 0.0


class RateLimiter:
    """Admits a call when every one of the provider's limits has room.

    Args:
        name: The provider's name (the limit's identifier).
        limits: Limits in ``limits`` notation.
        storage: Where counts live (in-process memory by default).
        shared: An async ``limits`` storage shared by the fleet (Redis); when given, permits
            are leased from it (`shared_renewals()`, `take_shared()`), and
            `acquire()` is the local fallback used while it is unreachable.
    """

    def __init__(
        self,
        name: str,
        limits: Sequence[str],
        storage: Storage | None = None,
        shared: AsyncStorage | None = None,
    ) -> None:
        from limits import parse_many
        from limits.storage import MemoryStorage
        from limits.strategies import FixedWindowRateLimiter

        self.name = name
        self.items: tuple[RateLimitItem, ...] = tuple(
            item for text in limits for item in parse_many(text)
        )
        self._strategy = FixedWindowRateLimiter(storage or MemoryStorage())
        self.is_shared = shared is not None
        self._shared = shared
        self._shared_leases = tuple(_Lease(item) for item in self.items)
        self.fallbacks = 0

    def shared_renewals(self, now: float) -> list[Coroutine[Any, Any, None]]:
        """The lease renewals the next `take_shared()` needs (one round trip each; run
        them together). Empty when every lease has permits left in its window."""
        return [
            self._renew_shared(lease, now)
            for lease in self._shared_leases
            if lease.permits <= 0 or now >= lease.until
        ]

    def take_shared(self, now: float) -> bool:
        """Take one permit of every limit from the fleet's leases; ``False`` if a limit is
        spent (renew first with `shared_renewals()`)."""
        for lease in self._shared_leases:
            if lease.permits <= 0 or now >= lease.until:
                return False
        for lease in self._shared_leases:
            lease.permits -= 1
        return True

    async def _renew_shared(self, lease: _Lease, now: float) -> None:
        assert self._shared is not None
        lease.permits, lease.until = await lease_window(
            self._shared, lease.item, self.name, lease.block, now
        )

    def acquire(self) -> bool:
        """Take one permit from every limit; ``False`` (and none taken) if any is exhausted."""
        strategy = self._strategy
        name = self.name
        items = self.items
        if len(items) > 1 and not all(strategy.test(item, name) for item in items):
            return False
        return all(strategy.hit(item, name) for item in items)

    def remaining(self) -> dict[str, int]:
        """Permits left in the current window, per limit."""
        return {
            str(item): self._strategy.get_window_stats(item, self.name).remaining
            for item in self.items
        }
