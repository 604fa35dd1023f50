"""arq workers over the shared Redis: one run per tick among workers, run_now, a killed worker."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

import polysource_redis
from polysource.config import structure_config
from polysource.errors import ConfigError
from polysource.jobs import Job, Schedule
from polysource.orchestrator import Orchestrator
from polysource.testing import FakeProvider
from polysource_redis.worker import cron_options

_WORKER = textwrap.dedent(
    """
    import asyncio, os, sys
    import redis
    import polysource_redis
    from polysource.config import structure_config
    from polysource.orchestrator import Orchestrator
    from polysource.testing import FakeProvider

    url, queue = sys.argv[1], sys.argv[2]
    marks = redis.Redis.from_url(url)

    class Slow(FakeProvider):
        async def fetch(self, request):
            marks.set(queue + ":running", os.getpid(), px=5000)
            await asyncio.sleep(0.7)
            return await super().fetch(request)

    config = structure_config({
        "jobs": [{"name": "tick", "every": 1, "refresh": {"dataset": "quote", "keys": ["AAPL"]}}],
        "jobs_queue": {"url": url, "queue": queue, "job_timeout": 1, "max_tries": 3},
    })

    async def main():
        plugins = [Slow("alpha"), polysource_redis]
        async with Orchestrator(config, plugins=plugins, entry_points=False) as orch:
            await orch.jobs.runner.work()

    asyncio.run(main())
    """
)


def _config(url: str, queue: str, every: float = 1) -> dict[str, object]:
    return {
        "jobs": [{"name": "tick", "every": every, "refresh": {"dataset": "quote", "keys": ["A"]}}],
        "jobs_queue": {"url": url, "queue": queue, "job_timeout": 1, "max_tries": 3},
    }


@pytest.fixture
def queue(shared_url: str, prefix: str):
    """A queue name of this test's own; its keys and arq's keys for it are deleted after."""
    name = f"{prefix}:jobs"
    yield name
    client = redis.Redis.from_url(shared_url)
    for pattern in (f"{prefix}*", f"arq:*{prefix}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    client.close()


def test_each_tick_runs_once_when_a_worker_is_killed_mid_run(
    shared_url: str, queue: str, tmp_path: Path
) -> None:
    """Two workers run every tick of a 1 s job once, and a tick whose worker was killed mid-run."""
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    client = redis.Redis.from_url(shared_url)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), shared_url, queue],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 19
    try:
        while (running := client.get(f"{queue}:running")) is None:
            assert time.monotonic() < deadline, "no worker started a run"
            time.sleep(0.02)
        killed_at_ms = time.time() * 1000
        os.kill(int(running), signal.SIGKILL)
        done: list[int] = []
        while not any(tick <= killed_at_ms for tick in done) or len(done) < 5:
            assert time.monotonic() < deadline, f"the killed tick never ran: {done}"
            time.sleep(0.1)
            done = [int(t) for t in client.lrange(f"{queue}:done:tick", 0, -1)]
    finally:
        for process in workers:
            process.kill()
            process.wait()
        client.close()
    ticks = sorted(done)
    assert len(ticks) == len(set(ticks)), f"a tick ran twice: {done}"
    assert all(b - a == 1000 for a, b in itertools.pairwise(ticks)), f"gap: {ticks}"


async def test_run_now_is_run_by_a_worker(shared_url: str, queue: str) -> None:
    """run_now enqueues a run that a worker of the same queue executes."""
    config = structure_config(_config(shared_url, queue, every=86400))
    fake = FakeProvider("alpha")
    plugins = [fake, polysource_redis]
    async with (
        Orchestrator(config, plugins=plugins, entry_points=False) as worker,
        Orchestrator(config, plugins=plugins, entry_points=False) as client,
    ):
        work = asyncio.ensure_future(worker.jobs.runner.work())
        try:
            info = await client.jobs.run_now("tick")
            assert info.runs == 0
            async with asyncio.timeout(5):
                while worker.jobs.get("tick").runs == 0:
                    await asyncio.sleep(0.05)
        finally:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    assert worker.jobs.get("tick").last_outcome == "ok"
    assert fake.calls


@pytest.mark.parametrize(
    ("every", "fields"),
    [
        (1, {"second": set(range(60))}),
        (15, {"second": {0, 15, 30, 45}}),
        (300, {"minute": set(range(0, 60, 5)), "second": 0}),
        (21600, {"hour": {0, 6, 12, 18}, "minute": 0, "second": 0}),
        (86400, {"hour": {0}, "minute": 0, "second": 0}),
    ],
)
def test_intervals_become_cron_fields(every: float, fields: dict[str, object]) -> None:
    """An interval that divides a minute, an hour or a day becomes arq cron fields."""
    job = Job("j", "purge", Schedule(every=every))
    assert cron_options(job, "jobs[0].every") == fields


@pytest.mark.parametrize("every", [7, 90, 1.5, 7200 * 5])
def test_an_interval_arq_cannot_tick_is_a_config_error(every: float) -> None:
    """An interval that does not divide a minute, an hour or a day names its key path."""
    job = Job("j", "purge", Schedule(every=every))
    with pytest.raises(ConfigError) as info:
        cron_options(job, "jobs[0].every")
    assert info.value.path == "jobs[0].every"


async def test_a_queue_url_no_plugin_serves_fails_at_start() -> None:
    """[jobs_queue] url without a runner plugin fails start-up instead of running in-process."""
    config = structure_config(_config("amqp://broker", "q"))
    with pytest.raises(ConfigError) as info:
        async with Orchestrator(config, plugins=[FakeProvider("alpha")], entry_points=False):
            pass
    assert info.value.path == "jobs_queue.url"
