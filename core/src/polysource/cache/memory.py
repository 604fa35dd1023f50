"""The L1 memory tier: a size-aware LRU.

Entries are keyed by the canonical key ``(dataset, key, region, tenant)``; ``tenant`` is
``None`` unless the dataset is private. The store keeps its entries in recency order,
bounded both by entry count and by bytes (each entry's size is the length of its encoded
value plus a fixed overhead), so the bound holds under any load. Hits (through
`polysource.engine.lookup`) set a reference bit instead of reordering the recency list
(cheaper on the hit path); eviction gives a referenced entry a second chance (the CLOCK
approximation of LRU).

The garbage collector walks every object it tracks on each full collection, so the tier keeps
no Python object per entry beyond the cached ``Result`` (and its value): an entry lives in a
*slot*, a position in per-slot arrays (result, times, size, reference bit, the links of the
recency list), and the store maps each key to its slot. Keys are tuples of strings, which
CPython stops tracking at their first collection, held in plain dicts, which a full collection
stops tracking once they hold nothing it tracks (a list or an ``OrderedDict`` of them would be
walked every time). An :class:`Entry` is what the engine builds for :meth:`MemoryCache.put` and what
:meth:`~MemoryCache.get` and :meth:`~MemoryCache.peek` return: a copy of the slot's fields
that knows whether its slot still holds it (:attr:`Entry.alive`); the cache keeps none.

"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from polysource.errors import ProviderError
from polysource.models import Result

__all__ = ["ENTRY_OVERHEAD", "Entry", "MemoryCache", "entry_size"]

ENTRY_OVERHEAD: Final = 384
"""Bytes charged per entry for the objects around the value (result, key, slot)."""

DATA_FACTOR: Final = 3
"""Python objects take about three times their JSON encoding (measured with tracemalloc on
quotes and daily bars). ``ENTRY_OVERHEAD`` is measured on quotes: one whose JSON is 187 bytes
takes at most 915 bytes with its result, key and slot. An entry is charged
``DATA_FACTOR * len(json) + ENTRY_OVERHEAD``; ``benchmarks/memory.py`` checks that real memory
stays under the accounted bytes."""


def entry_size(encoded_length: int) -> int:
    """Bytes charged for an entry whose value encodes to ``encoded_length`` bytes of JSON."""
    return DATA_FACTOR * encoded_length + ENTRY_OVERHEAD


CacheKey = tuple[str, str, str, str | None]

_new = object.__new__


class Entry:
    """One cached value (or a cached ``not_found``): what :meth:`MemoryCache.put` stores, and
    a copy of what is stored as :meth:`MemoryCache.get` returns it."""

    __slots__ = (
        "_cache",
        "_slot",
        "_stamp",
        "error",
        "key",
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
        self._cache: MemoryCache | None = None
        self._slot = 0
        self._stamp = 0

    @property
    def alive(self) -> bool:
        """Whether the entry is in a cache: stored, and not replaced, evicted or removed since."""
        cache = self._cache
        if cache is None:
            return False
        stamps = cache._stamps
        return self._slot < len(stamps) and stamps[self._slot] == self._stamp

    def fresh_until(self, tier: str) -> float:
        """Monotonic time until which the entry is fresh for ``tier``."""
        return self.stored_at + self.ttl[tier]


class MemoryCache:
    """A bounded in-process cache.

    Args:
        max_entries: Most entries held.
        max_bytes: Most bytes held (sum of entry sizes).

    Attributes:
        slot_of: The slot of a key (``None`` if not held): the hit path's one lookup, which
            does not touch recency.
        results: The result in each slot (``None`` for a free slot or a cached ``not_found``).
        stored_at: When the entry in each slot was stored (monotonic).
        referenced: The reference bit of each slot, which the hit path sets.
    """

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        # Key -> slot and slot -> key: plain dicts of strings, numbers and tuples of them,
        # which a full collection stops tracking. Recency is a list linked through the slots
        # (least recently used at the head).
        self._store: dict[CacheKey, int] = {}
        self._keys: dict[int, CacheKey] = {}
        self._head = self._tail = -1
        self._prev = array("q")
        self._next = array("q")
        # Per slot; ``results``, ``stored_at`` and ``referenced`` are shared with the hit path,
        # so they (and the store) are changed in place, never replaced.
        self.results: list[Result[Any] | None] = []
        self.referenced = bytearray()
        self._errors: list[ProviderError | None] = []
        self._ttls: list[Mapping[str, float] | None] = []
        self._stored_at = array("d")
        self._stale_until = array("d")
        self._sizes = array("q")
        self._stamps = array("Q")  # which put holds the slot (0: free)
        self._free: list[int] = []
        self._last_stamp = 0
        self.slot_of: Callable[[CacheKey], int | None] = self._store.get
        self.stored_at = self._stored_at
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._store)

    def __iter__(self) -> Iterator[Entry]:
        """The entries, least recently used first."""
        entries = []
        slot = self._head
        while slot >= 0:
            entries.append(self._entry(self._keys[slot], slot))
            slot = self._next[slot]
        return iter(entries)

    def get(self, key: CacheKey) -> Entry | None:
        """The entry for ``key``, marked most recently used."""
        slot = self._store.get(key)
        if slot is None:
            return None
        if slot != self._tail:
            self._unlink(slot)
            self._link(slot)
        return self._entry(key, slot)

    def peek(self, key: CacheKey) -> Entry | None:
        """The entry for ``key`` without touching recency."""
        slot = self._store.get(key)
        return None if slot is None else self._entry(key, slot)

    def _entry(self, key: CacheKey, slot: int) -> Entry:
        """A copy of the entry in ``slot`` (filled slot by slot: cheaper than ``__init__``)."""
        entry: Entry = _new(Entry)
        entry.key = key
        entry.result = self.results[slot]
        entry.stored_at = self._stored_at[slot]
        entry.ttl = self._ttls[slot]  # type: ignore[assignment] # set while the slot is held
        entry.stale_until = self._stale_until[slot]
        entry.size = self._sizes[slot]
        entry.error = self._errors[slot]
        entry._cache = self
        entry._slot = slot
        entry._stamp = self._stamps[slot]
        return entry

    def put(self, entry: Entry) -> bool:
        """Store ``entry`` (replacing any previous one); evict LRU entries to fit the bounds.

        Returns:
            Whether the entry was stored (an entry larger than ``max_bytes`` is not).
        """
        if entry.size > self.max_bytes:
            return False
        key = entry.key
        self.remove(key)
        slot = self._claim()
        self._last_stamp += 1
        self.results[slot] = entry.result
        self._errors[slot] = entry.error
        self._ttls[slot] = entry.ttl
        self._stored_at[slot] = entry.stored_at
        self._stale_until[slot] = entry.stale_until
        self._sizes[slot] = entry.size
        self._stamps[slot] = self._last_stamp
        entry._cache = self
        entry._slot = slot
        entry._stamp = self._last_stamp
        store = self._store
        store[key] = slot
        self._keys[slot] = key
        self._link(slot)
        self.bytes += entry.size
        referenced = self.referenced
        while len(store) > self.max_entries or self.bytes > self.max_bytes:
            old = self._head
            if referenced[old] and old != slot:
                referenced[old] = 0
                self._unlink(old)
                self._link(old)  # second chance: back to the most recent end
                continue
            self._drop(old)
            self.evictions += 1
        return True

    def _link(self, slot: int) -> None:
        """Put ``slot`` at the most recent end of the recency list."""
        tail = self._tail
        self._prev[slot] = tail
        self._next[slot] = -1
        if tail >= 0:
            self._next[tail] = slot
        else:
            self._head = slot
        self._tail = slot

    def _unlink(self, slot: int) -> None:
        """Take ``slot`` out of the recency list."""
        before, after = self._prev[slot], self._next[slot]
        if before >= 0:
            self._next[before] = after
        else:
            self._head = after
        if after >= 0:
            self._prev[after] = before
        else:
            self._tail = before

    def _claim(self) -> int:
        """A free slot (a new one if none is free)."""
        if self._free:
            return self._free.pop()
        self.results.append(None)
        self.referenced.append(0)
        self._errors.append(None)
        self._ttls.append(None)
        self._stored_at.append(0.0)
        self._stale_until.append(0.0)
        self._sizes.append(0)
        self._stamps.append(0)
        self._prev.append(-1)
        self._next.append(-1)
        return len(self.results) - 1

    def _drop(self, slot: int) -> None:
        """Drop the entry in ``slot`` and free the slot."""
        del self._store[self._keys.pop(slot)]
        self._unlink(slot)
        self.bytes -= self._sizes[slot]
        self.results[slot] = None
        self._errors[slot] = None
        self._ttls[slot] = None
        self._stamps[slot] = 0
        self.referenced[slot] = 0
        self._free.append(slot)

    def remove(self, key: CacheKey) -> None:
        """Drop the entry for ``key`` if present."""
        slot = self._store.get(key)
        if slot is not None:
            self._drop(slot)

    def clear(self, dataset: str | None = None) -> int:
        """Drop every entry (of one dataset, if given); returns how many were dropped."""
        keys = [k for k in self._store if dataset is None or k[0] == dataset]
        for key in keys:
            self.remove(key)
        if not self._store:
            self._release()
        return len(keys)

    def _release(self) -> None:
        """With no entry left, give back the memory of the slots."""
        del self.results[:]
        del self.referenced[:]
        del self._errors[:]
        del self._ttls[:]
        del self._stored_at[:]
        del self._stale_until[:]
        del self._sizes[:]
        del self._stamps[:]
        del self._prev[:]
        del self._next[:]
        self._free.clear()
        self._store.clear()
        self._keys.clear()
        self._head = self._tail = -1
