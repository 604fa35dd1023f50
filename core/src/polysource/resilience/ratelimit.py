"""Per-provider rate limits with the ``limits`` package.

Limits are written in ``limits`` notation (``"10/second"``, ``"1000/day"``). The default
storage is ``limits``' in-process memory storage with the fixed-window strategy; a shared
storage (Redis) can be passed in for fleet-wide limits.

A ``limits`` hit costs about 2 us here (a Redis one, a round trip), too much to pay on every
call of a busy provider. So permits are *leased* in blocks: one ``hit(cost=block)`` takes
``block`` permits of the current window, which are then handed out locally until they run out
or the window ends (leftovers are dropped, never carried over, so the limit is never exceeded).
The block is a hundredth of the limit, at most 1,000; a small limit (``50/hour``) leases one
permit at a time. ``limits`` reads the system clock for its windows; tests exercise exhaustion,
not window expiry.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage
from limits.strategies import FixedWindowRateLimiter

__all__ = ["RateLimiter"]


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
    """

    def __init__(self, name: str, limits: Sequence[str], storage: Storage | None = None) -> None:
        self.name = name
        self.items: tuple[RateLimitItem, ...] = tuple(
            item for text in limits for item in parse_many(text)
        )
        self._strategy = FixedWindowRateLimiter(storage or MemoryStorage())
        self._leases = tuple(_Lease(item) for item in self.items)

    def acquire(self) -> bool:
        """Take one permit from every limit; ``False`` if any limit is exhausted."""
        now = time.time()
        for lease in self._leases:
            if (lease.permits <= 0 or now >= lease.until) and not self._renew(lease, now):
                return False
        for lease in self._leases:
            lease.permits -= 1
        return True

    def _renew(self, lease: _Lease, now: float) -> bool:
        strategy = self._strategy
        stats = strategy.get_window_stats(lease.item, self.name)
        block = min(lease.block, stats.remaining) if stats.remaining > 0 else 1
        if not strategy.hit(lease.item, self.name, cost=block):
            lease.permits = 0
            return False
        lease.permits = block
        lease.until = strategy.get_window_stats(lease.item, self.name).reset_time
        return True

    def remaining(self) -> dict[str, int]:
        """Permits left in the current window, per limit (leased permits count as left)."""
        return {
            str(lease.item): self._strategy.get_window_stats(lease.item, self.name).remaining
            + max(0, lease.permits)
            for lease in self._leases
        }
