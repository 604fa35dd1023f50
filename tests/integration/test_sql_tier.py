"""The SQL tier through the engine: an L3 hit; a locked SQLite file never fails a request."""

from __future__ import annotations

import asyncio
import sqlite3

import polysource_sql
from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.testing import EventRecorder, FakeProvider


def _config(url: str):
    return load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": ["memory://", url], "tier_timeout": 0.5, "tier_cooldown": 60.0},
            "providers": {"a": {"retry": {"attempts": 1}}},
        },
    )


async def _until(condition, limit=300):
    for _ in range(limit):  # bounded wait for background I/O (~3 s)
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_l3_answers_after_l1_is_gone(tmp_path):
    """A provider answer reaches the SQLite tier; with L1 cleared, L3 answers."""
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    fake = FakeProvider("a")
    async with Orchestrator(
        _config(url), plugins=[fake, polysource_sql], entry_points=False, environ={}
    ) as orch:
        await orch.fetch(QUOTE, "AAPL")

        async def stored() -> bool:
            orch.clear_cache()
            return (await orch.fetch(QUOTE, "AAPL")).tier == "sqlite"

        await _until(stored)
        assert fake.call_count() <= 2


async def test_a_locked_sqlite_file_never_fails_a_request(tmp_path):
    """Another connection holds an exclusive lock: answers come from the provider."""
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}?journal_mode=delete"
    recorder = EventRecorder()
    fake = FakeProvider("a")
    async with Orchestrator(
        _config(url), plugins=[fake, recorder, polysource_sql], entry_points=False, environ={}
    ) as orch:
        await orch.fetch(QUOTE, "WARM")

        async def written() -> bool:
            if not path.exists():
                return False
            with sqlite3.connect(path, timeout=0.1) as db:
                try:
                    return bool(db.execute("SELECT count(*) FROM polysource_cache").fetchone()[0])
                except sqlite3.OperationalError:
                    return False

        await _until(written)
        locker = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            loop = asyncio.get_running_loop()
            began = loop.time()
            for key in ("A", "B", "C"):
                orch.clear_cache()
                assert (await orch.fetch(QUOTE, key)).source == "a"
            assert loop.time() - began < 3.0
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert "detached" in [e.detail["state"] for e in recorder.of("tier")]
