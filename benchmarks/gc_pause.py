"""A full garbage collection with 1,000,000 cached quotes vs with a dict of 1,000,000 tuples.

A full ``gc.collect()`` walks every object the collector tracks and every reference those
hold, so its cost grows with the tracked objects the cache keeps per entry and with the
containers that list them. The L1 entries are made as the fetch pipeline makes them (a
``Result`` of the quote, stored and indexed for the plain call; filling through ``fetch``
would take minutes), then one is read back through ``fetch``. The anchor is the simplest
in-process cache of the same values, ``{key: (quote, expires_at)}``: two tracked objects per
item (the tuple and the quote). Tracked objects are counted with ``gc.get_objects()``; the
cache's time is net of the process's own collection.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from _harness import figure

from polysource import BaseProvider, Orchestrator, ProviderInfo, Request, hookimpl, load_config
from polysource.cache.codec import encode
from polysource.cache.memory import Entry, MemoryCache, entry_size
from polysource.datasets import QUOTE, Quote
from polysource.models import Result
from polysource.testing import FakeClock

ENTRIES = 1_000_000


class _Quotes(BaseProvider):
    info = ProviderInfo("bench", datasets={"quote"})

    async def fetch(self, request: Request) -> Quote:
        return Quote(request.key, 101.25, "USD", previous_close=100.5, volume=123456)


class _Plugin:
    plugin_name = "bench"

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(_Quotes)


def _full_collection_ns(repeats: int) -> float:
    """Median time of a full ``gc.collect()``."""
    gc.collect()  # settle: tuples of atoms are untracked by their first collection
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        gc.collect()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times)


def _fill(memory: MemoryCache, clock: FakeClock, region: str, tier: str) -> None:
    """``ENTRIES`` quotes stored and indexed as the fetch pipeline stores and indexes them."""
    ttl = dict(QUOTE.policy.ttl)
    stale = QUOTE.policy.stale
    now = clock.monotonic()
    for i in range(ENTRIES):
        key = f"SYM{i:07d}"
        quote = _quote(key)
        result = Result(quote, "bench", cached=True, tier="memory", fetched_at=now, clock=clock)
        entry = Entry(
            (QUOTE.name, key, region, None),
            result,
            now,
            ttl,
            now + max(ttl.values()) + stale,
            entry_size(len(encode(quote))),
        )
        memory.put(entry)
        memory.index_put((QUOTE, key, None, None, None), entry, entry.fresh_until(tier))


def _quote(key: str) -> Quote:
    return Quote(key, 101.25, "USD", previous_close=100.5, volume=123456)


def _table() -> dict[str, tuple[Quote, float]]:
    return {f"SYM{i:07d}": (_quote(f"SYM{i:07d}"), 60.0 + i) for i in range(ENTRIES)}


async def run(quick: bool) -> list[dict[str, Any]]:
    rounds, repeats = (2, 3) if quick else (4, 5)
    config = load_config(
        environ={},
        overrides={"cache": {"max_bytes": 1 << 40, "max_entries": 2 * ENTRIES}},
    )
    clock = FakeClock()
    orch = Orchestrator(config, plugins=[_Plugin()], clock=clock, entry_points=False, environ={})
    await orch.start()
    memory = orch._engine.memory
    assert memory is not None
    baseline_ns = _full_collection_ns(repeats)  # the process without either
    tracked_before = len(gc.get_objects())
    _fill(memory, clock, config.region, config.tier)
    hit = await orch.fetch(QUOTE, "SYM0000000")
    assert hit.cached
    assert hit.tier == "memory"
    assert len(memory) == ENTRIES
    del hit
    gc.collect()
    per_entry = round((len(gc.get_objects()) - tracked_before) / ENTRIES, 3)

    # Rounds alternate between the two, a few seconds apart, so that a change in the load of
    # the machine hits both. The dict is timed with everything else frozen (gc.freeze moves
    # every tracked object out of the collector's reach), the cache with the process.
    cache_times, dict_times, per_item = [], [], 0.0
    for _ in range(rounds):
        cache_times.append(_full_collection_ns(repeats) - baseline_ns)
        gc.freeze()
        tracked_before = len(gc.get_objects())
        table = _table()
        gc.collect()
        per_item = round((len(gc.get_objects()) - tracked_before) / ENTRIES, 3)
        dict_times.append(_full_collection_ns(repeats))
        del table
        gc.collect()
        gc.unfreeze()
    await orch.close()
    del orch, memory
    gc.collect()
    cache_ns, dict_ns = statistics.median(cache_times), statistics.median(dict_times)
    return [
        figure(
            "gc_full_collect_1m_entries_vs_dict_of_tuples",
            cache_ns,
            dict_ns,
            None,
            anchor_name="a dict of 1M (quote, expires_at) tuples",
            entries=ENTRIES,
            process_alone_ns=round(baseline_ns),
            rounds_ns=[round(t) for t in cache_times],
            anchor_rounds_ns=[round(t) for t in dict_times],
        ),
        figure(
            "gc_tracked_objects_per_entry",
            per_entry,
            per_item,
            1.0,
            anchor_name="tracked objects per item of the dict of tuples",
            unit="objects",
        ),
    ]
