"""A cache backend double for testing tiers: a dict, with failures and hangs on demand."""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Sequence
from typing import Any

from polysource.cache.tiers import BackendContext
from polysource.hookspecs import hookimpl
from polysource.registry import CacheBackendRegistrar

__all__ = ["FakeCacheBackend", "FakeCacheBackends"]


class FakeCacheBackend:
    """An in-process stand-in for a shared tier (Redis, SQL) that counts its calls.

    Set ``failing = True`` to make every call raise ``ConnectionError``, ``hanging = True`` to
    make every call wait forever (until the engine's timeout cancels it).
    """

    def __init__(self, name: str = "fake", context: BackendContext | None = None) -> None:
        self.name = name
        self.context = context
        self.data: dict[str, bytes] = {}
        self.ttls: dict[str, float] = {}
        self.calls: list[tuple[str, int]] = []
        self.failing = False
        self.hanging = False
        self.closed = False

    async def _enter(self, operation: str, count: int) -> None:
        self.calls.append((operation, count))
        if self.failing:
            raise ConnectionError(f"{self.name} is down")
        if self.hanging:
            await asyncio.get_running_loop().create_future()

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Records for keys (one call, like MGET)."""
        await self._enter("get_many", len(keys))
        return [self.data.get(key) for key in keys]

    async def set(self, key: str, record: bytes, ttl: float) -> None:
        """Store a record."""
        await self._enter("set", 1)
        self.data[key] = record
        self.ttls[key] = ttl

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove keys."""
        await self._enter("delete", len(keys))
        for key in keys:
            self.data.pop(key, None)

    async def delete_pattern(self, pattern: str) -> int:
        """Remove keys matching a glob pattern."""
        await self._enter("delete_pattern", 1)
        matched = [key for key in self.data if fnmatch.fnmatchcase(key, pattern)]
        for key in matched:
            del self.data[key]
        return len(matched)

    async def close(self) -> None:
        """Mark closed."""
        self.closed = True

    def count(self, operation: str) -> int:
        """Calls of ``operation`` so far."""
        return sum(1 for name, _ in self.calls if name == operation)


class FakeCacheBackends:
    """A plugin claiming ``fake://NAME`` cache tiers; ``backends[NAME]`` are the doubles."""

    plugin_name = "polysource.testing.fake-cache"

    def __init__(self) -> None:
        self.backends: dict[str, FakeCacheBackend] = {}

    @hookimpl
    def register_cache_backends(self, register: CacheBackendRegistrar) -> None:
        """Claim the ``fake`` scheme."""
        register(("fake",), self._build)

    def _build(self, url: str, context: BackendContext) -> Any:
        name = url.split("://", 1)[1] or "fake"
        backend = self.backends.setdefault(name, FakeCacheBackend(name, context))
        backend.context = context
        return backend
