"""Cost budgets: at most ``limit`` cost units per period, reset at each period boundary.

Costs are fractional (0.01 per call), which ``limits``' integer costs do not express, so the
budget keeps its own account on the injected clock.
"""

from __future__ import annotations

import math
from typing import Final

from polysource.clock import Clock

__all__ = ["PERIODS", "CostBudget"]

PERIODS: Final = {
    "second": 1.0,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
    "month": 30 * 86400.0,
}


class CostBudget:
    """A spending cap for one provider.

    Args:
        limit: Cost units allowed per period.
        period: ``second``, ``minute``, ``hour``, ``day`` or ``month`` (30 days).
        clock: The time source; periods are aligned on its wall time.
    """

    __slots__ = ("_clock", "_window", "limit", "period", "seconds", "spent", "total_spent")

    def __init__(self, limit: float, period: str, clock: Clock) -> None:
        self.limit = limit
        self.period = period
        self.seconds = PERIODS[period]
        self._clock = clock
        self._window = -1
        self.spent = 0.0
        self.total_spent = 0.0

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

    def refund(self, cost: float) -> None:
        """Give back ``cost`` spent on a call that was not made after all."""
        self.spent = max(0.0, self.spent - cost)
        self.total_spent = max(0.0, self.total_spent - cost)

    @property
    def remaining(self) -> float:
        """Cost units left in the current period."""
        self._roll()
        return max(0.0, self.limit - self.spent)
