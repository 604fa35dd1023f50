"""Callers cancelled mid-statement: the statement ends and its connection goes back clean."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from polysource.cache.tiers import BackendContext
from polysource_sql.cache import SqlBackend

KEYS = [f"quote:K{i}" for i in range(300)]


@contextmanager
def _no_garbage_collection() -> Iterator[None]:
    """The cyclic collector paused: what a cancelled statement leaves behind is freed only
    whenever the collector happens to reach it, which in a long-lived process can be never."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _cancel_many_reads(backend: SqlBackend, rounds: int = 60) -> None:
    """Start multi-gets and give each up after 0 to 4.5 ms, so they stop in every phase."""
    await backend.get_many(KEYS)  # tables ready: the cancellations hit the reads themselves

    async def give_up(after: float) -> None:
        try:
            async with asyncio.timeout(after):
                await backend.get_many(KEYS)
        except TimeoutError:
            pass

    for round_ in range(rounds):
        await asyncio.gather(*(give_up(((round_ + i) % 10) * 0.0005) for i in range(5)))


async def _all_connections_back(backend: SqlBackend) -> bool:
    """Whether the pool gets every connection back within ~5 s (abandoned statements end)."""
    for _ in range(500):
        if backend.engine.pool.checkedout() == 0:  # type: ignore[attr-defined]
            return True
        await asyncio.sleep(0.01)
    return False


def _write_and_checkpoint(path: Path) -> tuple[int, int, int]:
    """From a second connection: a write, then a full checkpoint; returns the checkpoint row."""
    other = sqlite3.connect(path, timeout=2.0, isolation_level=None)
    try:
        other.execute("INSERT INTO polysource_cache VALUES ('other', x'00', 1e12)")
        return other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
async def test_cancelled_sqlite_reads_leave_no_lock_behind(clock, tmp_path, journal_mode) -> None:
    """After many reads cancelled mid-flight, another connection writes and checkpoints at once."""
    path = tmp_path / "cache.db"
    backend = SqlBackend(f"sqlite:///{path}?journal_mode={journal_mode}", BackendContext(clock, 2))
    try:
        for key in KEYS:
            await backend.set(key, b"x" * 500, 600)
        with _no_garbage_collection():
            await _cancel_many_reads(backend)
            async with asyncio.timeout(5):
                busy, _, _ = await asyncio.to_thread(_write_and_checkpoint, path)
        if journal_mode == "wal":
            assert busy == 0
            wal = path.with_name("cache.db-wal")
            assert not wal.exists() or wal.stat().st_size == 0
        assert await _all_connections_back(backend)
        assert await backend.get_many(["other"]) == [b"\x00"]
    finally:
        await backend.close()


async def test_cancelled_postgresql_reads_return_every_connection(
    clock, postgresql_url, pg_schema
) -> None:
    """After many reads cancelled mid-flight, the pool has every connection back and works."""
    backend = SqlBackend(f"{postgresql_url}?schema={pg_schema}", BackendContext(clock, 2))
    try:
        for key in KEYS[:50]:
            await backend.set(key, b"x" * 500, 600)
        await _cancel_many_reads(backend)
        assert await _all_connections_back(backend)
        async with asyncio.timeout(5):
            await backend.set("other", b"o", 600)
            assert await backend.get_many(["other", KEYS[0]]) == [b"o", b"x" * 500]
    finally:
        await backend.close()
