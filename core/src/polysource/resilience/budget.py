"""Cost budgets: at most ``limit`` cost units per period, reset at each period boundary.

Costs are fractional (0.01 per call). The local budget keeps its own account on the injected
clock. A budget shared by the fleet lives in the ``limits`` storage that fleet-wide rate limits
use (Redis): there, cost is counted in millionths (``limits`` counts whole numbers) in a fixed
window of the period aligned on the epoch, and leased in blocks of a hundredth of the budget
(one ``incr`` each, [`lease_window()`][polysource.resilience.ratelimit.lease_window]), so most calls
spend from the process's lease without a round trip. A lease's unspent part is lost when its
window ends, never carried over, so the fleet never spends more than the budget.

Windows can also follow how a provider bills: with a time zone (``tz``), a ``day`` starts at
local midnight and a ``month`` on the 1st at local midnight (calendar months), across daylight
saving changes; with a ``cron`` expression, each match of it starts a new window (in ``tz``,
UTC by default). Without either, windows are aligned on the epoch (UTC days, 30-day months).
A shared budget with such windows counts each window under a key named by its reset time.
"""

from __future__ import annotations

import math
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from polysource.clock import Clock
from polysource.errors import BudgetExhausted
from polysource.resilience.ratelimit import lease_window

if TYPE_CHECKING:
    from limits.aio.storage import Storage as AsyncStorage

__all__ = ["PERIODS", "SHARED_SCALE", "CostBudget", "next_reset"]

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


def _zone(tz: str | None) -> Any:
    if tz is None:
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)


def next_reset(period: str, now: float, tz: str | None = None, cron: str | None = None) -> float:
    """The wall time (epoch seconds) of the first window boundary after ``now``.

    Args:
        period: ``second`` ... ``month``; ignored when ``cron`` is given.
        now: Epoch seconds.
        tz: An IANA time zone name (``America/New_York``); days and months start at its
            local midnight. ``None`` with no ``cron``: windows aligned on the epoch.
        cron: A five-field cron expression; each match starts a window (in ``tz``).
    """
    if cron is not None:
        from cronsim import CronSim

        local = datetime.fromtimestamp(now, _zone(tz))
        return next(CronSim(cron, local)).timestamp()
    if tz is None or period not in ("day", "month"):
        seconds = PERIODS[period]
        return (math.floor(now / seconds) + 1) * seconds
    zone = _zone(tz)
    local = datetime.fromtimestamp(now, zone)
    if period == "day":
        day = local.date() + timedelta(days=1)
    else:
        day = (local.replace(day=28) + timedelta(days=4)).date().replace(day=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


class CostBudget:
    """A spending cap for one provider.

    Args:
        limit: Cost units allowed per period.
        period: ``second``, ``minute``, ``hour``, ``day`` or ``month`` (30 days).
        clock: The time source; local periods are aligned on its wall time.
        name: The provider's name (the shared budget's identifier).
        shared: An async ``limits`` storage shared by the fleet; when given, cost is spent
            from it with `try_spend_shared()`, and `try_spend()` is the local
            fallback used while it is unreachable.
        tz: The IANA time zone whose midnight starts a ``day`` or ``month`` window.
        cron: A cron expression whose matches start the windows (instead of ``period``).
    """

    __slots__ = (
        "_block",
        "_clock",
        "_cron",
        "_item",
        "_leased",
        "_resets_at",
        "_shared",
        "_tz",
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
        tz: str | None = None,
        cron: str | None = None,
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
        self._tz = tz
        self._cron = cron
        self._resets_at = -math.inf

    @property
    def aligned(self) -> bool:
        """Whether windows follow a time zone or a cron expression (not the epoch)."""
        return self._tz is not None or self._cron is not None

    @property
    def resets_at(self) -> float:
        """Wall time (epoch seconds) at which the current window ends and spending resets."""
        self._roll()
        if self.aligned:
            return self._resets_at
        return (self._window + 1) * self.seconds

    def _roll(self) -> None:
        now = self._clock.time()
        if self.aligned:
            if now >= self._resets_at:
                self._resets_at = next_reset(self.period, now, self._tz, self._cron)
                self.spent = 0.0
            return
        window = math.floor(now / self.seconds)
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
        """The lease renewal `spend_shared()` needs for ``cost`` (one round trip), or
        ``None`` when this process's lease covers it."""
        units = math.ceil(cost * SHARED_SCALE)
        if now >= self._until:
            self._leased = 0
        if self._leased >= units:
            return None
        return self._renew(max(self._block, units - self._leased), now)

    async def _renew(self, units: int, now: float) -> None:
        assert self._shared is not None
        if self.aligned:
            resets_at = next_reset(self.period, now, self._tz, self._cron)
            key = self._item.key_for(f"{self.name}:budget", "a", str(int(resets_at)))
            count = await self._shared.incr(key, max(1, math.ceil(resets_at - now)) + 1, units)
            granted = max(0, min(units, self._item.amount - (count - units)))
            if granted:
                self._leased += granted
                self._until = resets_at
            return
        granted, until = await lease_window(
            self._shared, self._item, f"{self.name}:budget", units, now
        )
        if granted:
            self._leased += granted
            self._until = until

    def spend_shared(self, cost: float, now: float) -> bool:
        """Spend ``cost`` from this process's lease of the fleet's budget; ``False`` if the
        lease cannot cover it (renew first with `shared_renewal()`)."""
        units = math.ceil(cost * SHARED_SCALE)
        if now >= self._until or self._leased < units:
            return False
        self._leased -= units
        self._roll()
        self.spent += cost
        self.total_spent += cost
        return True

    def exhausted(self, cost: float, scope: str = "local") -> BudgetExhausted:
        """The typed error for a call of ``cost`` this budget could not pay for."""
        self._roll()
        return BudgetExhausted(
            provider=self.name,
            usage=self.spent,
            limit=self.limit,
            cost=cost,
            resets_at=self.resets_at,
            scope=scope,
        )

    def reset(self) -> None:
        """Forget this window's spending (this process's count; a fleet's count is kept)."""
        self._roll()
        self.spent = 0.0

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
