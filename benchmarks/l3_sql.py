"""The SQL tier: an L3 (SQLite) hit through ``orch.fetch`` vs a bare aiosqlite SELECT.

Reported, with no budget: the hit goes through SQLAlchemy's async engine (a pooled
connection, a compiled ``SELECT``) and decodes the record into the schema; the anchor is one
``SELECT`` of the same row on a plain aiosqlite connection, without decoding.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import aiosqlite
from _harness import figure, measure

import polysource_sql
from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE, Quote
from polysource.engine.tiers import shared_key
from polysource.testing import FakeProvider


async def run(quick: bool) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        return await _run(quick, Path(folder) / "l3.db")


async def _run(quick: bool, path: Path) -> list[dict[str, Any]]:
    fake = FakeProvider("bench")
    fake.answer("AAPL", Quote("AAPL", 190.5, "USD", previous_close=189.0, volume=1000))
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": [f"sqlite:///{path}"], "tier_timeout": 1.0},
        },
    )
    orch = Orchestrator(config, plugins=[fake, polysource_sql], entry_points=False, environ={})
    await orch.start()
    try:
        await orch.fetch(QUOTE, "AAPL")  # the provider's answer is written to SQLite
        for _ in range(1000):  # the write goes out in the background
            if (await orch.fetch(QUOTE, "AAPL")).tier == "sqlite":
                break
        else:
            raise RuntimeError("the SQLite tier never answered")
        key = shared_key(QUOTE, "AAPL", "global", None)
        async with aiosqlite.connect(path) as db:

            async def bare_select() -> Any:
                async with db.execute(
                    "SELECT record FROM polysource_cache WHERE key = ?", (key,)
                ) as cursor:
                    return await cursor.fetchone()

            async def l3_hit() -> Any:
                return await orch.fetch(QUOTE, "AAPL")

            assert (await l3_hit()).tier == "sqlite"
            assert await bare_select() is not None
            rounds = 5 if quick else 15
            hits = await measure(
                {"bare": bare_select, "polysource": l3_hit},
                repeats=3,
                rounds=rounds,
                ops=50,
                warmup=50,
            )
    finally:
        await orch.close()
    return [
        figure(
            "l3_sqlite_hit_p50_vs_bare_select",
            hits["polysource"]["p50_ns"],
            hits["bare"]["p50_ns"],
            None,
            anchor_name="aiosqlite SELECT of the same row",
        )
    ]
