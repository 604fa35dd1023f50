"""The L1 memory tier: a size-aware LRU with a request-signature index for the hit path.

Entries are keyed by the canonical key ``(dataset, key, region, tenant)``; ``tenant`` is
``None`` unless the dataset is private. The store keeps its entries in recency order,
bounded both by entry count and by bytes (each entry's size is the length of its encoded
value plus a fixed overhead), so the bound holds under any load. Hits through the index set a
reference bit instead of reordering the recency list (cheaper on the hit path); eviction gives a
referenced entry a second chance (the CLOCK approximation of LRU).

The garbage collector walks every object it tracks on each full collection, so the tier keeps
no Python object per entry beyond the cached ``Result`` (and its value): an entry lives in a
*slot*, a position in per-slot arrays (result, times, size, reference bit, the links of the
recency list), and the store maps each key to its slot. Keys, index slots and each slot's
record of its index slots are tuples of strings and numbers, which CPython stops tracking at
their first collection, held in plain dicts, which a full collection stops tracking once they
hold nothing it tracks (a list or an ``OrderedDict`` of them would be walked every time). An
:class:`Entry` is what the engine builds for :meth:`MemoryCache.put` and what
:meth:`~MemoryCache.get` and :meth:`~MemoryCache.peek` return: a copy of the slot's fields
that knows whether its slot still holds it (:attr:`Entry.alive`); the cache keeps none.

The *index* maps the exact arguments of a previous ``fetch`` (dataset handle or name, raw key,
region, tier, tenant) to ``(slot, fresh_until)``, so that a repeated request is answered with
one or two dict lookups and one clock read: no normalisation, no routing, no allocation. It
is two tables per dataset argument: ``plain[dataset][key]`` for requests with no region, tier
or tenant, and ``index[dataset][(key, region, tier, tenant)]`` for the others. An entry that
is replaced, evicted or removed takes its index slots with it. An entry holds at most
``MAX_SIGNATURES`` slots (a request shape already indexed is not added again; a new one past
the bound takes the place of the entry's oldest), and each slot past the first is charged to
the entry's bytes, so the index stays within the cache's bounds whatever the call pattern.
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable, Iterator, Mapping
from typing import Any, Final

from polysource.errors import ProviderError
from polysource.models import Result

__all__ = [
    "ENTRY_OVERHEAD",
    "MAX_SIGNATURES",
    "SLOT_SIZE",
    "Entry",
    "IndexSlot",
    "MemoryCache",
    "entry_size",
]

ENTRY_OVERHEAD: Final = 384
"""Bytes charged per entry for the objects around the value (result, key, slot, index slot)."""

DATA_FACTOR: Final = 3
"""Python objects take about three times their JSON encoding (measured with tracemalloc on
quotes and daily bars). ``ENTRY_OVERHEAD`` is measured on quotes: one whose JSON is 187 bytes
takes 915 bytes with its result, key, slot and index slot. An entry is charged
``DATA_FACTOR * len(json) + ENTRY_OVERHEAD``; ``benchmarks/memory.py`` checks that real memory
stays under the accounted bytes."""


MAX_SIGNATURES: Final = 4
"""Index slots one entry holds at most (request shapes: handle or name, tier, key spelling)."""

SLOT_SIZE: Final = 224
"""Bytes charged for each index slot of an entry past its first (the first is part of
``ENTRY_OVERHEAD``): the table's key and item, the slot tuple, the slot's record of it
(measured: about 200 bytes)."""


def entry_size(encoded_length: int) -> int:
    """Bytes charged for an entry whose value encodes to ``encoded_length`` bytes of JSON."""
    return DATA_FACTOR * encoded_length + ENTRY_OVERHEAD


CacheKey = tuple[str, str, str, str | None]

_new = object.__new__

IndexSlot = tuple[int, float]
"""What the index holds per request signature: the entry's slot, until when it is fresh."""


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
        max_bytes: Most bytes held (sum of entry sizes, index slots included).

    Attributes:
        results: The result in each slot (``None`` for a free slot or a cached ``not_found``);
            the hit path reads it at the slot its index slot names.
        referenced: The reference bit of each slot, which the hit path sets.
        plain: Index tables of requests with no region, tier or tenant: dataset -> key -> slot.
        index: Index tables of the other requests: dataset -> (key, region, tier, tenant) ->
            slot.
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
        # Per slot; ``results`` and ``referenced`` are shared with the hit path, so they are
        # changed in place, never replaced.
        self.results: list[Result[Any] | None] = []
        self.referenced = bytearray()
        self._errors: list[ProviderError | None] = []
        self._ttls: list[Mapping[str, float] | None] = []
        self._stored_at = array("d")
        self._stale_until = array("d")
        self._sizes = array("q")
        self._stamps = array("Q")  # which put holds the slot (0: free)
        # Slot -> (table number, key in the table, ...).
        self._signatures: dict[int, tuple[Any, ...]] = {}
        self._free: list[int] = []
        self._last_stamp = 0
        self.plain: dict[Any, dict[Any, IndexSlot]] = {}
        self.index: dict[Any, dict[Any, IndexSlot]] = {}
        self._tables: list[dict[Any, IndexSlot]] = []
        self._plain_numbers: dict[Any, int] = {}  # dataset -> number of its plain table
        self._index_numbers: dict[Any, int] = {}
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
        """Drop the entry in ``slot`` and its index slots, and free the slot."""
        del self._store[self._keys.pop(slot)]
        self._unlink(slot)
        self.bytes -= self._sizes[slot]
        signatures = self._signatures.pop(slot, None)
        if signatures is not None:
            for i in range(0, len(signatures), 2):
                self._unindex(signatures[i], signatures[i + 1], slot)
        self.results[slot] = None
        self._errors[slot] = None
        self._ttls[slot] = None
        self._stamps[slot] = 0
        self.referenced[slot] = 0
        self._free.append(slot)

    def _unindex(self, number: int, key: Any, slot: int) -> None:
        """Drop the index slot of ``key`` in table ``number`` if it is ``slot``'s."""
        table = self._tables[number]
        held = table.get(key)
        if held is not None and held[0] == slot:
            del table[key]

    def _new_table(self, dataset: Any, plain: bool) -> int:
        """The number of a new index table for ``dataset``."""
        number = len(self._tables)
        table: dict[Any, IndexSlot] = {}
        self._tables.append(table)
        if plain:
            self.plain[dataset] = table
            self._plain_numbers[dataset] = number
        else:
            self.index[dataset] = table
            self._index_numbers[dataset] = number
        return number

    def remove(self, key: CacheKey) -> None:
        """Drop the entry for ``key`` if present."""
        slot = self._store.get(key)
        if slot is not None:
            self._drop(slot)

    def index_put(self, signature: Hashable, entry: Entry, fresh_until: float) -> None:
        """Remember that requests with ``signature`` are answered by ``entry`` until then.

        ``signature`` is ``(dataset, key, region, tier, tenant)`` as the request gave them.
        Only an entry this cache holds is indexed. A signature already indexed for ``entry``
        costs nothing more (``fresh_until`` depends only on the entry and the signature's
        tier). A new one past ``MAX_SIGNATURES`` takes the place of the entry's oldest; one
        whose charge would pass ``max_bytes`` is not indexed (those requests take the engine's
        path, with the same answer).
        """
        slot = entry._slot
        stamps = self._stamps
        if (
            entry.result is None
            or entry._cache is not self
            or slot >= len(stamps)
            or stamps[slot] != entry._stamp
        ):
            return  # not held here
        parts: tuple[Any, Any, Any, Any, Any] = signature  # type: ignore[assignment]
        dataset, key, region, tier, tenant = parts
        if region is None and tier is None and tenant is None:
            number = self._plain_numbers.get(dataset)
            if number is None:
                number = self._new_table(dataset, plain=True)
        else:
            key = (key, region, tier, tenant)
            number = self._index_numbers.get(dataset)
            if number is None:
                number = self._new_table(dataset, plain=False)
        table = self._tables[number]
        held = table.get(key)
        if held is not None and held[0] == slot:
            return
        signatures = self._signatures.get(slot)
        if signatures is None:
            self._signatures[slot] = (number, key)
        elif len(signatures) < 2 * MAX_SIGNATURES:
            if self.bytes + SLOT_SIZE > self.max_bytes:
                return
            self._signatures[slot] = (*signatures, number, key)
            self._sizes[slot] += SLOT_SIZE
            entry.size += SLOT_SIZE
            self.bytes += SLOT_SIZE
        else:
            self._unindex(signatures[0], signatures[1], slot)
            self._signatures[slot] = (*signatures[2:], number, key)
        table[key] = (slot, fresh_until)

    def signatures(self, entry: Entry) -> int:
        """How many index slots ``entry`` holds (0 if the cache does not hold it)."""
        if entry._cache is not self or not entry.alive:
            return 0
        signatures = self._signatures.get(entry._slot)
        return 0 if signatures is None else len(signatures) // 2

    def clear(self, dataset: str | None = None) -> int:
        """Drop every entry (of one dataset, if given); returns how many were dropped."""
        keys = [k for k in self._store if dataset is None or k[0] == dataset]
        for key in keys:
            self.remove(key)  # and its index slots
        if not self._store:
            self._release()
        return len(keys)

    def _release(self) -> None:
        """With no entry left, give back the memory of the slots and index tables."""
        for table in self._tables:
            table.clear()
        del self.results[:]
        del self.referenced[:]
        del self._errors[:]
        del self._ttls[:]
        del self._stored_at[:]
        del self._stale_until[:]
        del self._sizes[:]
        del self._stamps[:]
        self._signatures.clear()
        del self._prev[:]
        del self._next[:]
        self._free.clear()
        self._store = {}
        self._keys = {}
        self._head = self._tail = -1
