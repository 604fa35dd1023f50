"""Cost budgets: at most ``limit`` cost units per period, reset at each period boundary.

Costs are fractional (0.01 per call). The local budget keeps its own account on the injected
clock. A budget shared by the fleet lives in the ``limits`` storage that fleet-wide rate limits
use (Redis): there, cost is counted in millionths (``limits`` counts whole numbers) in a fixed
window of the period aligned on the epoch, and leased in blocks of a hundredth of the budget
(one ``incr`` each, :func:`~polysource.resilience.ratelimit.lease_window`), so most calls
spend from the process's lease without a round trip. A lease's unspent part is lost when its
window ends, never carried over, so the fleet never spends more than the budget.
"""

from __future__ import annotations

import math
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Final

from polysource.clock import Clock
from polysource.resilience.ratelimit import lease_window

if TYPE_CHECKING:
    from limits.aio.storage import Storage as AsyncStorage

__all__ = ["PERIODS", "SHARED_SCALE", "CostBudget"]

PERIODS: Final = {
    "second": 1.0,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
    "month": 30 * 86400.0,
}

SHARED_SCALE: Final = 1_000_000
"""Shared budgets count cost in millionths of a unit."""

_ITEMS: Final = {
    "second": "RateLimitItemPerSecond",
    "minute": "RateLimitItemPerMinute",
    "hour": "RateLimitItemPerHour",
    "day": "RateLimitItemPerDay",
    "month": "RateLimitItemPerMonth",  # 30 days in limits too
}
"""The ``limits`` item class of each period, by name: ``limits`` is imported by the first
budget built, not with this module."""


class CostBudget:
    """A spending cap for one provider.

    Args:
        limit: Cost units allowed per period.
        period: ``second``, ``minute``, ``hour``, ``day`` or ``month`` (30 days).
        clock: The time source; local periods are aligned on its wall time.
        name: The provider's name (the shared budget's identifier).
        shared: An async ``limits`` storage shared by the fleet; when given, cost is spent
            from it with :meth:`try_spend_shared`, and :meth:`try_spend` is the local
            fallback used while it is unreachable.
    """

    __slots__ = (
        "_block",
        "_clock",
        "_item",
        "_leased",
        "_shared",
        "_until",
        "_window",
        "fallbacks",
        "is_shared",
        "limit",
        "name",
        "period",
        "seconds",
        "spent",
        "total_spent",
    )

    def __init__(
        self,
        limit: float,
        period: str,
        clock: Clock,
        name: str = "budget",
        shared: AsyncStorage | None = None,
    ) -> None:
        import limits

        self.limit = limit
        self.period = period
        self.seconds = PERIODS[period]
        self.name = name
        self._clock = clock
        self._window = -1
        self.spent = 0.0
        self.total_spent = 0.0
        self.fallbacks = 0
        self.is_shared = shared is not None
        self._shared = shared
        item_class: type[limits.RateLimitItem] = getattr(limits, _ITEMS[period])
        self._item = item_class(max(1, round(limit * SHARED_SCALE)))
        self._block = max(1, self._item.amount // 100)
        self._leased = 0
        self._until = 0.0

    def _roll(self) -> None:
        window = math.floor(self._clock.time() / self.seconds)
        if window != self._window:
            self._window = window
            self.spent = 0.0

    def try_spend(self, cost: float) -> bool:
        """Spend ``cost`` if it fits in this period's budget."""
        self._roll()
        if self.spent + cost > self.limit + 1e-12:
            return False
        self.spent += cost
        self.total_spent += cost
        return True

    def shared_renewal(self, cost: float, now: float) -> Coroutine[Any, Any, None] | None:
        """The lease renewal :meth:`spend_shared` needs for ``cost`` (one round trip), or
        ``None`` when this process's lease covers it."""
        units = math.ceil(cost * SHARED_SCALE)
        if now >= self._until:
            self._leased = 0
        if self._leased >= units:
            return None
        return self._renew(max(self._block, units - self._leased), now)

    async def _renew(self, units: int, now: float) -> None:
        assert self._shared is not None
        granted, until = await lease_window(
            self._shared, self._item, f"{self.name}:budget", units, now
        )
        if granted:
            self._leased += granted
            self._until = until

    def spend_shared(self, cost: float, now: float) -> bool:
        """Spend ``cost`` from this process's lease of the fleet's budget; ``False`` if the
        lease cannot cover it (renew first with :meth:`shared_renewal`)."""
        units = math.ceil(cost * SHARED_SCALE)
        if now >= self._until or self._leased < units:
            return False
        self._leased -= units
        self._roll()
        self.spent += cost
        self.total_spent += cost
        return True

    def refund(self, cost: float) -> None:
        """Give back ``cost`` spent on a call that was not made after all."""
        self.spent = max(0.0, self.spent - cost)
        self.total_spent = max(0.0, self.total_spent - cost)
        if self.is_shared and self._leased:
            self._leased += math.ceil(cost * SHARED_SCALE)

    @property
    def remaining(self) -> float:
        """Cost units left in the current period (for a shared budget, as this process sees
        it: its own spending only)."""
        self._roll()
        return max(0.0, self.limit - self.spent)
