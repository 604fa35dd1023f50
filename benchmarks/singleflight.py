"""1,000 concurrent identical fetches of a cold key vs gathering 1,000 trivial coroutines."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from _harness import figure, measure_batches

from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.testing import FakeProvider

N = 1000


async def run(quick: bool) -> list[dict[str, Any]]:
    fake = FakeProvider("bench")
    orch = Orchestrator(load_config(environ={}), plugins=[fake], entry_points=False, environ={})
    await orch.start()
    keys = (f"K{i}" for i in itertools.count())
    calls: list[int] = []

    async def trivial() -> int:
        return 1

    async def anchor() -> Any:
        return await asyncio.gather(*(trivial() for _ in range(N)))

    async def polysource() -> Any:
        key = next(keys)  # a cold key every round
        before = fake.call_count()
        results = await asyncio.gather(*(orch.fetch(QUOTE, key) for _ in range(N)))
        calls.append(fake.call_count() - before)
        return results

    loop = asyncio.get_running_loop()
    futures: dict[str, asyncio.Future[Any]] = {}

    async def dict_get(key: str) -> Any:
        future = futures.get(key)
        if future is None:
            future = futures[key] = loop.create_future()
            loop.call_soon(future.set_result, 1)
        return await future

    async def dict_of_futures() -> Any:
        key = next(keys)
        return await asyncio.gather(*(dict_get(key) for _ in range(N)))

    from aiodataloader import DataLoader

    async def batch_load(batch: list[str]) -> list[int]:
        return [1 for _ in batch]

    async def load(loader: Any, key: str) -> Any:
        return await loader.load(key)  # one caller coroutine per request

    async def dataloader() -> Any:
        loader = DataLoader(batch_load)
        key = next(keys)
        return await asyncio.gather(*(load(loader, key) for _ in range(N)))

    result = await measure_batches(
        {
            "gather": anchor,
            "polysource": polysource,
            "dict_of_futures": dict_of_futures,
            "aiodataloader": dataloader,
        },
        repeats=3 if quick else 5,
        rounds=10 if quick else 30,
    )
    await orch.close()
    assert set(calls) == {1}, f"expected one provider call per round, got {set(calls)}"
    return [
        figure(
            "singleflight_1000_vs_gather",
            result["polysource"]["median_ns"],
            result["gather"]["median_ns"],
            1.3,
            anchor_name="gather of 1,000 trivial coroutines",
            provider_calls_per_round=1,
        ),
        figure(
            "singleflight_dict_of_futures_vs_gather",
            result["dict_of_futures"]["median_ns"],
            result["gather"]["median_ns"],
            None,
            anchor_name="gather of 1,000 trivial coroutines",
        ),
        figure(
            "singleflight_aiodataloader_vs_gather",
            result["aiodataloader"]["median_ns"],
            result["gather"]["median_ns"],
            None,
            anchor_name="gather of 1,000 trivial coroutines",
        ),
    ]
