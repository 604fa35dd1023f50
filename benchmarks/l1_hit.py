"""A fresh L1 hit through ``await orch.fetch(...)``, in every call shape, vs the floor and peers.

Call shapes: plain (``fetch(QUOTE, key)``), by name (``fetch("quote", key)``), ``region=``,
``tenant=`` on a private dataset, and the options ``allow_stale=``, ``max_age=`` and
``deadline=``. Anchors: ``await f(key)`` returning a dict item (the floor), cashews' and
aiocache's in-memory ``get``, and a ``cachetools.TTLCache`` lookup inside an async function.
"""

from __future__ import annotations

from typing import Any

from _harness import figure, measure

from polysource import Orchestrator, load_config
from polysource.connections import Connection
from polysource.datasets import QUOTE, Accounts
from polysource.testing import FakeProvider

CASHEWS_BUDGET = 0.3
TTLCACHE_BUDGET = 0.6
OPTION_BUDGET = 1.5
P99_BUDGET = 3.0


async def run(quick: bool) -> list[dict[str, Any]]:
    from aiocache import SimpleMemoryCache
    from cachetools import TTLCache
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
    ttl_cache: TTLCache[str, Any] = TTLCache(maxsize=100_000, ttl=60)
    ttl_cache["AAPL"] = store["AAPL"]

    # The default configuration: structlog logger (warning) and stats on.
    config = load_config(environ={})
    bank = FakeProvider("bank", datasets={"accounts"})
    bank.answer("default", lambda request: Accounts(()))
    orch = Orchestrator(
        config, plugins=[FakeProvider("bench"), bank], entry_points=False, environ={}
    )
    await orch.start()
    await orch.connections.save(Connection("alice", "bank", "link-alice"))
    fetch = orch.fetch
    region = config.region

    shapes = {
        "plain": lambda: fetch(QUOTE, "AAPL"),
        "by_name": lambda: fetch("quote", "AAPL"),
        "region": lambda: fetch(QUOTE, "AAPL", region=region),
        "tenant": lambda: fetch("accounts", "default", tenant="alice"),
        "allow_stale": lambda: fetch(QUOTE, "AAPL", allow_stale=False),
        "max_age": lambda: fetch(QUOTE, "AAPL", max_age=3600.0),
        "deadline": lambda: fetch(QUOTE, "AAPL", deadline=5.0),
    }
    for call in shapes.values():
        await call()

    async def cashews_get() -> Any:
        return await cashews.get("AAPL")

    async def aiocache_get() -> Any:
        return await aiocache.get("AAPL")

    async def ttl_cache_get() -> Any:
        return ttl_cache["AAPL"]

    result = await measure(
        {
            "floor": floor,
            **shapes,
            "cashews": cashews_get,
            "aiocache": aiocache_get,
            "ttl_cache": ttl_cache_get,
        },
        repeats=3 if quick else 7,
        rounds=10 if quick else 30,
    )
    for call in shapes.values():
        hit = await call()
        assert hit.cached
        assert hit.tier == "memory"
    await orch.close()
    f, p, c, a, t = (result[k] for k in ("floor", "plain", "cashews", "aiocache", "ttl_cache"))
    figures = [
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
    ]
    for name in shapes:
        s = result[name]
        figures += [
            figure(
                f"l1_hit_{name}_vs_cashews",
                s["median_ns"],
                c["median_ns"],
                CASHEWS_BUDGET,
                anchor_name="cashews mem:// get",
            ),
            figure(
                f"l1_hit_{name}_vs_ttlcache",
                s["median_ns"],
                t["median_ns"],
                TTLCACHE_BUDGET,
                anchor_name="cachetools.TTLCache[key] in an async function",
            ),
            figure(
                f"l1_hit_{name}_p99_vs_p50",
                s["p99_ns"],
                s["p50_ns"],
                P99_BUDGET,
                anchor_name="its own p50",
            ),
        ]
        if name != "plain":
            figures.append(
                figure(
                    f"l1_hit_{name}_vs_plain",
                    s["median_ns"],
                    p["median_ns"],
                    OPTION_BUDGET,
                    anchor_name="the plain hit",
                )
            )
    figures += [
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
        figure(
            "ttlcache_vs_floor",
            t["median_ns"],
            f["median_ns"],
            None,
            anchor_name="await f(key) -> dict[key]",
        ),
    ]
    return figures
