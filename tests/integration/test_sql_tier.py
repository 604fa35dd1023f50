"""The SQL tier through the engine: an L3 hit; a locked or read-only SQLite file never fails a
request."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys

import pytest

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


_IMMUTABLE_SHM = r"""
import asyncio, subprocess, sys

import polysource_sql
from polysource import Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.testing import EventRecorder, FakeProvider

async def main(path):
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": [f"sqlite:///{path}"], "tier_timeout": 2.0, "tier_cooldown": 60.0},
            "providers": {"a": {"retry": {"attempts": 1}}},
        },
    )
    recorder, fake = EventRecorder(), FakeProvider("a")
    plugins = [fake, recorder, polysource_sql]
    async with Orchestrator(config, plugins=plugins, entry_points=False, environ={}) as orch:
        await orch.fetch(QUOTE, "WARM")
        for _ in range(300):  # the background write reaches the file (bounded, ~3 s)
            orch.clear_cache()
            if (await orch.fetch(QUOTE, "WARM")).tier == "sqlite":
                break
            await asyncio.sleep(0.01)
        else:
            sys.exit("the SQLite tier never answered")
        if subprocess.run(["chattr", "+i", f"{path}-shm"], check=False).returncode:
            sys.exit(77)  # no immutable attribute here: nothing to test
        for key in ("WARM", "A", "B"):
            orch.clear_cache()
            assert (await orch.fetch(QUOTE, key)).source == "a"
        states = [e.detail for e in recorder.of("tier")]
        assert [d["state"] for d in states] == ["detached"], states
        assert states[0]["error"] == "NotWritable", states
        print("survived")
        # Closing the last connection checkpoints the WAL through the map as well.
        subprocess.run(["chattr", "-i", f"{path}-shm"], check=True)

asyncio.run(main(sys.argv[1]))
"""


def test_a_read_only_shm_file_detaches_the_tier_instead_of_killing_the_process(tmp_path):
    """With the -shm file made immutable mid-run, the process lives on and the tier detaches.

    SQLite writes the -shm file through a memory map; writing one whose file became read-only
    raises SIGBUS, so the orchestrator runs in a subprocess that a crash cannot take pytest with.
    """
    path = tmp_path / "cache.db"
    try:
        child = subprocess.run(
            [sys.executable, "-c", _IMMUTABLE_SHM, str(path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        subprocess.run(["chattr", "-i", f"{path}-shm"], check=False, capture_output=True)
    if child.returncode == 77:
        pytest.skip("chattr +i is not available here (no immutable attribute to set)")
    assert child.returncode == 0, (child.returncode, child.stderr[-2000:])
    assert child.stdout.strip() == "survived"
