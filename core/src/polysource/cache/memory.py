"""The L1 memory tier: a size-aware LRU with a request-signature index for the hit path.

Entries are keyed by the canonical key ``(dataset, key, region, tenant)``; ``tenant`` is
``None`` unless the dataset is private. The store is an ``OrderedDict`` in recency order,
bounded both by entry count and by bytes (each entry's size is the length of its encoded
value plus a fixed overhead), so the bound holds under any load. Hits through the index set a
reference bit instead of reordering the dict (cheaper on the hit path); eviction gives a
referenced entry a second chance (the CLOCK approximation of LRU).

The *index* maps the exact arguments of a previous ``fetch`` (dataset handle or name, raw key,
region, tier, tenant) to ``(result, fresh_until)``, so that a repeated request is answered with
one dict lookup and one clock read: no normalisation, no routing, no allocation. An entry that
is replaced, evicted or removed takes its index slots with it. An entry holds at most
``MAX_SIGNATURES`` slots (a request shape already indexed is not added again; a new one past
the bound takes the place of the entry's oldest), and each slot past the first is charged to
the entry's bytes, so the index stays within the cache's bounds whatever the call pattern.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from typing import Any, Final

from polysource.errors import ProviderError
from polysource.models import Result

__all__ = ["ENTRY_OVERHEAD", "MAX_SIGNATURES", "SLOT_SIZE", "Entry", "MemoryCache", "entry_size"]

ENTRY_OVERHEAD: Final = 512
"""Bytes charged per entry for the objects around the value (entry, result, key, slots)."""

DATA_FACTOR: Final = 3
"""Python objects take about three times their JSON encoding (measured with tracemalloc on
quotes and daily bars: 1,025 real bytes for a quote whose JSON is 189 bytes, with the
entry, result, keys and index slots included). An entry is charged
``DATA_FACTOR * len(json) + ENTRY_OVERHEAD``; ``benchmarks/memory.py`` checks that real
memory stays under the accounted bytes."""


MAX_SIGNATURES: Final = 4
"""Index slots one entry holds at most (request shapes: handle or name, tier, key spelling)."""

SLOT_SIZE: Final = 256
"""Bytes charged for each index slot of an entry past its first (the first is part of
``ENTRY_OVERHEAD``): the signature tuple, the slot tuple and the dict item."""


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
        "signatures",
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
        self.signatures: list[Hashable] | None = None

    def fresh_until(self, tier: str) -> float:
        """Monotonic time until which the entry is fresh for ``tier``."""
        return self.stored_at + self.ttl[tier]


IndexSlot = tuple[Result[Any], float, Entry]
"""What the index holds per request signature: the result, until when it is fresh, the entry."""


class MemoryCache:
    """A bounded in-process cache.

    Args:
        max_entries: Most entries held.
        max_bytes: Most bytes held (sum of entry sizes, index slots included).
    """

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._store: OrderedDict[CacheKey, Entry] = OrderedDict()
        self.index: dict[Hashable, IndexSlot] = {}
        # Requests with no region, tier or tenant: dataset -> key -> slot.
        self.plain: dict[Any, dict[str, IndexSlot]] = {}
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
        for signature in entry.signatures or ():
            self._unindex(signature, entry)

    def _unindex(self, signature: Any, entry: Entry) -> None:
        """Drop the slot of ``signature`` if it is ``entry``'s."""
        table, key = self._table(signature)
        slot = table.get(key)
        if slot is not None and slot[2] is entry:
            del table[key]

    def _table(self, signature: Any) -> tuple[dict[Any, Any], Any]:
        dataset, key, region, tier, tenant = signature
        if region is None and tier is None and tenant is None:
            return self.plain.setdefault(dataset, {}), key
        return self.index, signature

    def remove(self, key: CacheKey) -> None:
        """Drop the entry for ``key`` if present."""
        old = self._store.pop(key, None)
        if old is not None:
            self._kill(old)

    def index_put(self, signature: Hashable, entry: Entry, fresh_until: float) -> None:
        """Remember that requests with ``signature`` are answered by ``entry`` until then.

        A signature already indexed for ``entry`` costs nothing more (``fresh_until`` depends
        only on the entry and the signature's tier). A new one past ``MAX_SIGNATURES`` takes
        the place of the entry's oldest; one whose charge would pass ``max_bytes`` is not
        indexed (those requests take the engine's path, with the same answer).
        """
        if entry.result is None or not entry.alive:
            return
        table, key = self._table(signature)
        slot = table.get(key)
        if slot is not None and slot[2] is entry:
            return
        signatures = entry.signatures
        if signatures is None:
            entry.signatures = [signature]
        elif len(signatures) < MAX_SIGNATURES:
            if self.bytes + SLOT_SIZE > self.max_bytes:
                return
            signatures.append(signature)
            entry.size += SLOT_SIZE
            self.bytes += SLOT_SIZE
        else:
            self._unindex(signatures.pop(0), entry)
            signatures.append(signature)
        table[key] = (entry.result, fresh_until, entry)

    def clear(self, dataset: str | None = None) -> int:
        """Drop every entry (of one dataset, if given); returns how many were dropped."""
        keys = [k for k in self._store if dataset is None or k[0] == dataset]
        for key in keys:
            self.remove(key)  # and its index slots
        return len(keys)
