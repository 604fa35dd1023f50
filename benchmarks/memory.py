"""100,000 cached quotes stay under the configured byte bound, in accounted and real memory.

The cache accounts each entry as its encoded size plus a fixed overhead; tracemalloc measures
what the entries really take (entry, result, quote, keys), so the figure shows
whether the accounting is honest: the real bytes must stay under the bound too.
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from _harness import figure

from polysource import BaseProvider, Orchestrator, ProviderInfo, Request, hookimpl, load_config
from polysource.datasets import QUOTE, Quote

QUOTES = 100_000
BOUND = 128 * 1024 * 1024


class _Quotes(BaseProvider):
    """A provider that keeps nothing per call, so tracemalloc sees only the cache."""

    info = ProviderInfo("bench", datasets={"quote"})

    async def fetch(self, request: Request) -> Quote:
        return Quote(request.key, 101.25, "USD", previous_close=100.5, volume=123456)


class _Plugin:
    plugin_name = "bench"

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(_Quotes)


async def run(quick: bool) -> list[dict[str, Any]]:
    fake = _Plugin()
    config = load_config(
        environ={}, overrides={"cache": {"max_bytes": BOUND, "max_entries": 10 * QUOTES}}
    )
    orch = Orchestrator(config, plugins=[fake], entry_points=False, environ={})
    await orch.start()
    count = QUOTES
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(count):
        await orch.fetch(QUOTE, f"SYM{i:06d}")
    gc.collect()
    real = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    memory = orch._engine.memory
    accounted = memory.bytes
    held = len(memory)
    await orch.close()
    return [
        figure(
            "memory_100k_quotes_accounted_vs_bound",
            accounted,
            BOUND,
            1.0,
            anchor_name=f"cache.max_bytes = {BOUND}",
            unit="bytes",
            entries=held,
        ),
        figure(
            "memory_100k_quotes_real_vs_bound",
            real,
            BOUND,
            1.0,
            anchor_name=f"cache.max_bytes = {BOUND}",
            unit="bytes",
            real_per_entry=round(real / max(1, held)),
            accounted_per_entry=round(accounted / max(1, held)),
        ),
        figure(
            "memory_real_vs_accounted",
            real,
            accounted,
            1.0,
            anchor_name="bytes the cache accounts",
            unit="bytes",
        ),
    ]
