"""Per-key request quotas and cost budgets (``[gateway.api_keys.NAME] quota / budget``).

Each API key may have a quota (requests per window) and a budget (cost units per window), in
``limits`` notation, counted with ``limits``' fixed-window strategy: in the fleet's Redis when
``rate_limit_storage`` or a Redis ``[fleet] url`` is configured (so every worker and host
shares the counts), in this process's memory otherwise. A request costs one against the
quota and, against the budget, its dataset's or operation's ``[gateway] costs`` entry (1 by
default) for each key it asks for. Over either, the request is answered 429 with
``Retry-After`` until the window resets, before any provider call. A storage that does not
answer within ``[fleet] timeout`` lets the request through: quotas fail open.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any

import structlog

from polysource.gateway.problems import Problem

if TYPE_CHECKING:
    from polysource.config import Config
    from polysource.gateway.auth import Client

__all__ = ["Quotas"]

_log = structlog.get_logger("polysource.gateway")


class Quotas:
    """The quota and budget of every API key that has one.

    Args:
        config: The whole configuration (``[gateway]`` keys and costs, the fleet's storage).
    """

    def __init__(self, config: Config) -> None:
        from limits import parse

        gateway = config.gateway
        self._costs = dict(gateway.costs)
        self._items: dict[str, tuple[Any, Any]] = {
            name: (
                parse(key.quota) if key.quota else None,
                parse(key.budget) if key.budget else None,
            )
            for name, key in gateway.api_keys.items()
            if key.quota or key.budget
        }
        self._timeout = config.fleet.timeout
        self._uri: str | None = None
        if config.rate_limit_storage:
            self._uri = config.rate_limit_storage
        elif config.fleet.url and config.fleet.rate_limits:
            url = config.fleet.url.split("?", 1)[0]  # the query holds polysource's options
            if url.startswith(("redis://", "rediss://")):
                self._uri = f"async+{url}"
        self._prefix = f"{config.rate_limit_prefix}:gateway"
        self._storage: Any = None
        self._limiter: Any = None

    @property
    def active(self) -> bool:
        """Whether any key has a quota or budget (checked before `charge()`, which the
        request path skips otherwise)."""
        return self._limiter is not None

    @property
    def shared(self) -> bool:
        """Whether the counts live in a shared storage (Redis) rather than this process."""
        return self._uri is not None

    def start(self) -> None:
        """Build the storage and the limiter (nothing when no key has a quota or budget)."""
        if not self._items or self._limiter is not None:
            return
        from limits.aio.strategies import FixedWindowRateLimiter

        if self._uri is not None:
            from polysource.resilience.ratelimit import shared_storage

            self._storage = shared_storage(self._uri, self._prefix, self._timeout)
        else:
            from limits.aio.storage import MemoryStorage

            self._storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(self._storage)

    async def close(self) -> None:
        """Close the storage's connections."""
        if self._storage is not None:
            from polysource.resilience.ratelimit import close_shared_storage

            await close_shared_storage(self._storage)
        self._storage = self._limiter = None

    async def charge(self, client: Client, name: str, keys: int = 1) -> None:
        """Count one request of ``client`` for ``keys`` keys of dataset or operation ``name``.

        Raises:
            Problem: 429 with ``Retry-After`` when the key is over its quota or budget.
        """
        if not client.key or self._limiter is None:
            return
        items = self._items.get(client.name or "")
        if items is None:
            return
        quota, budget = items
        cost = self._costs.get(name, 1) * keys
        over: Problem | None = None
        try:
            async with asyncio.timeout(self._timeout if self.shared else None):
                if quota is not None and not await self._limiter.hit(quota, "quota", client.name):
                    over = await self._over(quota, "quota", client, "quota-exceeded")
                elif (
                    budget is not None
                    and cost
                    and not await self._limiter.hit(budget, "budget", client.name, cost=cost)
                ):
                    over = await self._over(budget, "budget", client, "budget-exhausted")
        except Exception as exc:  # noqa: BLE001 - a storage outage lets the request through
            _log.warning("quota_storage_unavailable", error=type(exc).__name__)
        if over is not None:
            raise over

    async def _over(self, item: Any, kind: str, client: Client, slug: str) -> Problem:
        stats = await self._limiter.get_window_stats(item, kind, client.name)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        return Problem(
            429,
            slug,
            f"the API key is over its {kind} of {item}",
            category="rate_limit",
            retryable=True,
            retry_after=float(wait),
        )
