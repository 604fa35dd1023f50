"""A fresh L1 hit through ``await orch.fetch(...)`` vs the floor and in-memory cache peers."""

from __future__ import annotations

from typing import Any

from _harness import figure, measure

from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.testing import FakeProvider


async def run(quick: bool) -> list[dict[str, Any]]:
    from aiocache import SimpleMemoryCache
    from cashews import Cache

    store = {"AAPL": {"symbol": "AAPL", "price": 1.0}}

    async def floor_fn(key: str) -> Any:
        return store[key]

    async def floor() -> Any:
        return await floor_fn("AAPL")

    cashews = Cache()
    cashews.setup("mem://")
    await cashews.set("AAPL", store["AAPL"])
    aiocache = SimpleMemoryCache()
    await aiocache.set("AAPL", store["AAPL"])

    # The default configuration: structlog logger (warning) and stats on.
    config = load_config(environ={})
    orch = Orchestrator(config, plugins=[FakeProvider("bench")], entry_points=False, environ={})
    await orch.start()
    await orch.fetch(QUOTE, "AAPL")
    fetch = orch.fetch

    async def polysource() -> Any:
        return await fetch(QUOTE, "AAPL")

    async def with_options() -> Any:
        return await fetch(QUOTE, "AAPL", deadline=5.0)

    async def by_name() -> Any:
        return await fetch("quote", "AAPL")

    async def with_region() -> Any:
        return await fetch(QUOTE, "AAPL", region="US")

    async def with_allow_stale() -> Any:
        return await fetch(QUOTE, "AAPL", allow_stale=False)

    async def with_max_age() -> Any:
        return await fetch(QUOTE, "AAPL", max_age=60.0)

    async def cashews_get() -> Any:
        return await cashews.get("AAPL")

    async def aiocache_get() -> Any:
        return await aiocache.get("AAPL")

    result = await measure(
        {
            "floor": floor,
            "polysource": polysource,
            "options": with_options,
            "by_name": by_name,
            "region": with_region,
            "allow_stale": with_allow_stale,
            "max_age": with_max_age,
            "cashews": cashews_get,
            "aiocache": aiocache_get,
        },
        repeats=3 if quick else 7,
        rounds=10 if quick else 30,
    )
    assert (await polysource()).cached
    await orch.close()
    f, p, c, a = (result[k] for k in ("floor", "polysource", "cashews", "aiocache"))
    o = result["options"]
    return [
        figure(
            "l1_hit_vs_floor",
            p["median_ns"],
            f["median_ns"],
            4.0,
            anchor_name="await f(key) -> dict[key]",
            p99_ns=p["p99_ns"],
            spread=round(p["spread"], 3),
        ),
        figure("l1_hit_p99_vs_floor_p50", p["p99_ns"], f["p50_ns"], 6.0, anchor_name="floor p50"),
        figure(
            "l1_hit_with_deadline_vs_plain",
            o["median_ns"],
            p["median_ns"],
            None,
            anchor_name="the same hit without options",
        ),
        *(
            figure(
                f"l1_hit_{shape}_vs_plain",
                result[shape]["median_ns"],
                p["median_ns"],
                1.5,
                anchor_name="the same hit without options",
            )
            for shape in ("by_name", "region", "allow_stale", "max_age")
        ),
        figure(
            "l1_hit_vs_cashews",
            p["median_ns"],
            c["median_ns"],
            0.12,
            anchor_name="cashews mem:// get",
        ),
        figure(
            "l1_hit_vs_aiocache",
            p["median_ns"],
            a["median_ns"],
            None,
            anchor_name="aiocache SimpleMemoryCache.get",
        ),
        figure(
            "cashews_vs_floor",
            c["median_ns"],
            f["median_ns"],
            None,
            anchor_name="await f(key) -> dict[key]",
        ),
    ]
