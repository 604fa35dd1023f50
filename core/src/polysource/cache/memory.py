"""The L1 memory tier: a size-aware LRU with a request-signature index for the hit path.

Entries are keyed by the canonical key ``(dataset, key, region, tenant)``; ``tenant`` is
``None`` unless the dataset is private. The store is an ``OrderedDict`` in recency order,
bounded both by entry count and by bytes (each entry's size is the length of its encoded
value plus a fixed overhead), so the bound holds under any load.

The *index* maps the exact arguments of a previous ``fetch`` (dataset handle or name, raw key,
region, tier, tenant) to ``(entry, fresh_until)``, so that a repeated request is answered with
one dict lookup and one clock read: no normalisation, no routing, no allocation. Replaced or
evicted entries are marked dead, which invalidates their index slots.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Any, Final

from polysource.errors import ProviderError
from polysource.models import Result

__all__ = ["ENTRY_OVERHEAD", "Entry", "MemoryCache"]

ENTRY_OVERHEAD: Final = 256
"""Bytes charged per entry beyond its encoded value (key, entry object, index slot)."""

CacheKey = tuple[str, str, str, str | None]


class Entry:
    """One cached value (or a cached ``not_found``)."""

    __slots__ = (
        "alive",
        "error",
        "fresh_until",
        "key",
        "result",
        "size",
        "stale_until",
        "stored_at",
    )

    def __init__(
        self,
        key: CacheKey,
        result: Result[Any] | None,
        stored_at: float,
        fresh_until: dict[str, float],
        stale_until: float,
        size: int,
        error: ProviderError | None = None,
    ) -> None:
        self.key = key
        self.result = result
        self.stored_at = stored_at
        self.fresh_until = fresh_until
        self.stale_until = stale_until
        self.size = size
        self.error = error
        self.alive = True


class MemoryCache:
    """A bounded in-process cache.

    Args:
        max_entries: Most entries held.
        max_bytes: Most bytes held (sum of entry sizes).
        max_index: Most request signatures indexed (the index is cleared when it overflows).
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        max_bytes: int = 256 * 1024 * 1024,
        max_index: int | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_index = max_index if max_index is not None else max(1024, 2 * max_entries)
        self._store: OrderedDict[CacheKey, Entry] = OrderedDict()
        self.index: dict[Hashable, tuple[Entry, float]] = {}
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._store)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._store.values()))

    def get(self, key: CacheKey) -> Entry | None:
        """The entry for ``key``, marked most recently used."""
        entry = self._store.get(key)
        if entry is not None:
            self._store.move_to_end(key)
        return entry

    def peek(self, key: CacheKey) -> Entry | None:
        """The entry for ``key`` without touching recency."""
        return self._store.get(key)

    def put(self, entry: Entry) -> bool:
        """Store ``entry`` (replacing any previous one); evict LRU entries to fit the bounds.

        Returns:
            Whether the entry was stored (an entry larger than ``max_bytes`` is not).
        """
        if entry.size > self.max_bytes:
            return False
        self.remove(entry.key)
        self._store[entry.key] = entry
        self.bytes += entry.size
        store = self._store
        while len(store) > self.max_entries or self.bytes > self.max_bytes:
            _, old = store.popitem(last=False)
            old.alive = False
            self.bytes -= old.size
            self.evictions += 1
        return True

    def remove(self, key: CacheKey) -> None:
        """Drop the entry for ``key`` if present."""
        old = self._store.pop(key, None)
        if old is not None:
            old.alive = False
            self.bytes -= old.size

    def index_put(self, signature: Hashable, entry: Entry, fresh_until: float) -> None:
        """Remember that requests with ``signature`` are answered by ``entry``."""
        if len(self.index) >= self.max_index:
            self.index.clear()
        self.index[signature] = (entry, fresh_until)

    def clear(self, dataset: str | None = None) -> int:
        """Drop every entry (of one dataset, if given); returns how many were dropped."""
        keys = [k for k in self._store if dataset is None or k[0] == dataset]
        for key in keys:
            self.remove(key)
        self.index.clear()
        return len(keys)
