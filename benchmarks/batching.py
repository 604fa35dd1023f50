"""Batching: provider calls for cold batches and coalesced singles; cached fetch_many vs a loop."""

from __future__ import annotations

import asyncio
from typing import Any

from _harness import figure, measure_batches

from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.testing import FakeProvider


async def _orchestrator(batch_size: int) -> tuple[Orchestrator, FakeProvider]:
    fake = FakeProvider("bench", max_batch_size=batch_size)
    orch = Orchestrator(load_config(environ={}), plugins=[fake], entry_points=False, environ={})
    await orch.start()
    return orch, fake


async def run(quick: bool) -> list[dict[str, Any]]:
    # 100 symbols, max_batch_size 10, cold cache: the optimum is 10 provider calls.
    orch, fake = await _orchestrator(10)
    symbols = [f"S{i:03d}" for i in range(100)]
    batch = await orch.fetch_many(QUOTE, symbols)
    assert batch.summary.successful == 100
    cold_calls = len(fake.batch_calls) + len(fake.calls)
    await orch.close()

    # 1,000 concurrent single fetches of 100 distinct symbols: coalesced and de-duplicated.
    orch, fake = await _orchestrator(10)
    await asyncio.gather(*(orch.fetch(QUOTE, symbols[i % 100]) for i in range(1000)))
    coalesced_calls = len(fake.batch_calls) + len(fake.calls)
    await orch.close()

    # fetch_many of 1,000 cached keys vs 1,000 single hits awaited one by one.
    orch, fake = await _orchestrator(100)
    keys = [f"K{i:04d}" for i in range(1000)]
    await orch.fetch_many(QUOTE, keys)
    fetch = orch.fetch

    async def loop_of_hits() -> Any:
        for key in keys:
            await fetch(QUOTE, key)

    async def many() -> Any:
        return await orch.fetch_many(QUOTE, keys)

    assert (await many()).summary.cached == 1000
    result = await measure_batches(
        {"loop": loop_of_hits, "fetch_many": many},
        repeats=3 if quick else 5,
        rounds=20 if quick else 60,
    )
    await orch.close()
    return [
        figure(
            "batch_100_cold_calls_vs_optimum",
            cold_calls,
            10,
            1.0,
            anchor_name="10 calls (100 keys / max_batch_size 10)",
            unit="calls",
        ),
        figure(
            "coalesce_1000_singles_100_keys_calls",
            coalesced_calls,
            10,
            1.0,
            anchor_name="at most 10 provider calls",
            unit="calls",
        ),
        figure(
            "fetch_many_1000_cached_vs_loop",
            result["fetch_many"]["median_ns"],
            result["loop"]["median_ns"],
            0.5,
            anchor_name="1,000 single L1 hits awaited in a loop",
        ),
    ]
