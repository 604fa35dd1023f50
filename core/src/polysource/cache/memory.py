"""The L1 memory tier: a size-aware LRU.

Entries are keyed by the canonical key ``(dataset, key, region, tenant)``; ``tenant`` is
``None`` unless the dataset is private. The store is an ``OrderedDict`` in recency order,
bounded both by entry count and by bytes (each entry's size is the length of its encoded
value plus a fixed overhead), so the bound holds under any load. Hits (through
:mod:`polysource.engine.lookup`) set a reference bit instead of reordering the dict (cheaper on
the hit path); eviction gives a referenced entry a second chance (the CLOCK approximation of
LRU).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from polysource.errors import ProviderError
from polysource.models import Result

__all__ = ["ENTRY_OVERHEAD", "Entry", "MemoryCache", "entry_size"]

ENTRY_OVERHEAD: Final = 512
"""Bytes charged per entry for the objects around the value (entry, result, key)."""

DATA_FACTOR: Final = 3
"""Python objects take about three times their JSON encoding (measured with tracemalloc on
quotes and daily bars: 1,025 real bytes for a quote whose JSON is 189 bytes, with the
entry, result and keys included). An entry is charged
``DATA_FACTOR * len(json) + ENTRY_OVERHEAD``; ``benchmarks/memory.py`` checks that real
memory stays under the accounted bytes."""


def entry_size(encoded_length: int) -> int:
    """Bytes charged for an entry whose value encodes to ``encoded_length`` bytes of JSON."""
    return DATA_FACTOR * encoded_length + ENTRY_OVERHEAD


CacheKey = tuple[str, str, str, str | None]


class Entry:
    """One cached value (or a cached ``not_found``)."""

    __slots__ = (
        "alive",
        "error",
        "key",
        "referenced",
        "result",
        "size",
        "stale_until",
        "stored_at",
        "ttl",
    )

    def __init__(
        self,
        key: CacheKey,
        result: Result[Any] | None,
        stored_at: float,
        ttl: Mapping[str, float],
        stale_until: float,
        size: int,
        error: ProviderError | None = None,
    ) -> None:
        self.key = key
        self.result = result
        self.stored_at = stored_at
        self.ttl = ttl  # the dataset's TTL per tier, shared by its entries
        self.stale_until = stale_until
        self.size = size
        self.error = error
        self.alive = True
        self.referenced = False

    def fresh_until(self, tier: str) -> float:
        """Monotonic time until which the entry is fresh for ``tier``."""
        return self.stored_at + self.ttl[tier]


class MemoryCache:
    """A bounded in-process cache.

    Args:
        max_entries: Most entries held.
        max_bytes: Most bytes held (sum of entry sizes).
    """

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._store: OrderedDict[CacheKey, Entry] = OrderedDict()
        self.peek: Callable[[CacheKey], Entry | None] = self._store.get
        """The entry for a key without touching recency (the store's own ``get``: the hit
        path's one lookup)."""
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
            key, old = store.popitem(last=False)
            if old.referenced and old is not entry:
                old.referenced = False
                store[key] = old  # second chance: back to the most recent end
                continue
            self._kill(old)
            self.evictions += 1
        return True

    def _kill(self, entry: Entry) -> None:
        entry.alive = False
        self.bytes -= entry.size

    def remove(self, key: CacheKey) -> None:
        """Drop the entry for ``key`` if present."""
        old = self._store.pop(key, None)
        if old is not None:
            self._kill(old)

    def clear(self, dataset: str | None = None) -> int:
        """Drop every entry (of one dataset, if given); returns how many were dropped."""
        keys = [k for k in self._store if dataset is None or k[0] == dataset]
        for key in keys:
            self.remove(key)
        return len(keys)
