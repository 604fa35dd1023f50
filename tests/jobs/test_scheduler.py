"""Jobs on the in-process scheduler, driven by the fake clock without sleeping."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from polysource.config import load_config
from polysource.datasets import QUOTE
from polysource.errors import ConfigError, InvalidRequest
from polysource.jobs import Job, Schedule, parse_interval
from polysource.testing import FakeClock, FakeProvider

NY = ZoneInfo("America/New_York")


def _at(*args: int) -> float:
    return datetime(*args, tzinfo=NY).timestamp()  # type: ignore[misc]


@pytest.fixture
def clock() -> FakeClock:
    """The fake clock at midnight New York on 8 March 2026 (clocks go forward at 02:00)."""
    return FakeClock(wall=_at(2026, 3, 8))


def _local_hours(times: list[float]) -> list[str]:
    return [datetime.fromtimestamp(t, NY).strftime("%d %H:%M") for t in times]


async def test_refresh_jobs_run_at_the_right_instants_across_a_dst_day(make_orchestrator, clock):
    """Over the 23-hour New York day of 8 March, a cron job runs at each local 6-hour mark and
    an every=1h job 23 times, each run fetching its keys anew through the pipeline."""
    a = FakeProvider("a", clock=clock)
    runs: dict[str, list[float]] = {"cron": [], "hourly": []}
    orch = await make_orchestrator(
        a,
        keysets={"watchlist": ["AAPL", "MSFT"]},
        jobs=[
            {
                "name": "cron",
                "cron": "0 */6 * * *",
                "tz": "America/New_York",
                "refresh": {"dataset": "quote", "keyset": "watchlist"},
            },
            {"name": "hourly", "every": "1h", "refresh": {"dataset": "quote", "keys": ["IBM"]}},
        ],
    )
    assert orch.jobs.get("cron").next_run == _at(2026, 3, 8, 6)
    end = _at(2026, 3, 9)
    while clock.time() < end:
        before = {name: orch.jobs.get(name).runs for name in runs}
        step = min(i.next_run for i in orch.jobs.list() if i.next_run) - clock.time()
        await clock.advance(step)
        for name, times in runs.items():
            if orch.jobs.get(name).runs > before[name]:
                times.append(clock.time())
    assert _local_hours(runs["cron"]) == ["08 06:00", "08 12:00", "08 18:00", "09 00:00"]
    assert runs["cron"][1] - runs["cron"][0] == 6 * 3600
    assert len(runs["hourly"]) == 23
    info = orch.jobs.get("cron")
    assert (info.runs, info.keys_refreshed, info.failures, info.last_outcome) == (4, 8, 0, "ok")
    assert info.next_run == _at(2026, 3, 9, 6)
    assert a.call_count() == 4 * 2 + 23


async def test_keysets_change_at_runtime_and_the_next_run_uses_them(make_orchestrator, clock):
    """Keys added to and removed from a key set are what the next refresh fetches."""
    a = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(
        a,
        keysets={"watchlist": ["AAPL"]},
        jobs=[{"name": "r", "every": "5m", "refresh": {"dataset": "quote", "keyset": "watchlist"}}],
    )
    watchlist = orch.jobs.keyset("watchlist")
    assert watchlist.add_keys(["MSFT", "IBM", "AAPL"]) == 2
    assert watchlist.remove_keys(["AAPL", "NOPE"]) == 1
    assert watchlist.keys() == ("MSFT", "IBM")
    await clock.advance(300)
    assert orch.jobs.get("r").keys_refreshed == 2 and a.call_count() == 2


async def test_run_now_pause_and_resume(make_orchestrator, clock):
    """run_now runs a paused job at once; a paused job is not scheduled until resumed."""
    a = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(
        a,
        jobs=[{"name": "r", "every": "1m", "refresh": {"dataset": "quote", "keys": ["AAPL"]}}],
    )
    assert orch.jobs.pause("r").next_run is None
    await clock.advance(600)
    assert orch.jobs.get("r").runs == 0
    info = await orch.jobs.run_now("r")
    assert info.runs == 1 and info.last_outcome == "ok" and info.last_duration is not None
    resumed = orch.jobs.resume("r")
    assert resumed.next_run == pytest.approx(clock.time() + 60)
    await clock.advance(60)
    assert orch.jobs.get("r").runs == 2
    with pytest.raises(InvalidRequest, match="unknown job"):
        await orch.jobs.run_now("nope")


async def test_a_failing_refresh_is_recorded_and_the_schedule_goes_on(make_orchestrator, clock):
    """Keys every provider failed count as failures with outcome partial; later runs still run."""
    a = FakeProvider("a", clock=clock).fail_always("*", "network")
    orch = await make_orchestrator(
        a,
        providers={"a": {"retry": {"attempts": 1}}},
        jobs=[{"name": "r", "every": "1m", "refresh": {"dataset": "quote", "keys": ["AAPL"]}}],
    )
    await clock.advance(120)
    info = orch.jobs.get("r")
    assert info.runs == 2 and info.failures == 2 and info.last_outcome == "partial"


async def test_budget_reset_and_purge_jobs(make_orchestrator, clock):
    """A cron budget reset gives the budget back; a purge job empties the memory tier."""
    a = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(
        a,
        providers={"a": {"cost_per_call": 1.0, "budget": {"limit": 1.0, "per": "month"}}},
        jobs=[
            {"name": "budget", "cron": "0 9 * * *", "tz": "America/New_York", "budget_reset": {}},
            {"name": "purge", "every": "1h", "purge": {"dataset": "quote"}},
        ],
    )
    await orch.fetch(QUOTE, "K1")
    assert orch.stats().providers["a"].budget_spent == 1.0
    await clock.advance(_at(2026, 3, 8, 9) - clock.time())
    assert orch.stats().providers["a"].budget_spent == 0.0
    assert orch.jobs.get("purge").runs == 8
    assert orch.clear_cache() == 0


def test_job_config_errors_name_the_key_path():
    """Bad intervals, two kinds, no schedule and unknown key sets are ConfigErrors with paths."""
    cases = [
        ({"name": "r", "every": "5 parsecs", "purge": {}}, "jobs[0].every"),
        ({"name": "r", "every": "5m", "purge": {}, "budget_reset": {}}, "jobs[0]"),
        ({"name": "r", "purge": {}}, "jobs[0]"),
        (
            {"name": "r", "every": "5m", "refresh": {"dataset": "q", "keyset": "x"}},
            "jobs[0].refresh.keyset",
        ),
        ({"name": "r", "cron": "0 0 * *", "purge": {}}, "jobs[0].cron"),
    ]
    for job, path in cases:
        with pytest.raises(ConfigError) as caught:
            load_config(environ={}, overrides={"jobs": [job]})
        assert caught.value.path == path, job


def test_intervals_and_schedules():
    """parse_interval reads s/m/h/d; an interval schedule counts from the given time."""
    assert [parse_interval(t) for t in ("90s", "5m", "1.5h", "1d", 30)] == [
        90,
        300,
        5400,
        86400,
        30,
    ]
    assert Schedule(every=60).next_after(100.0) == 160.0
    assert Job("j", "purge", Schedule(every=60)).paused is False


def test_jobs_queue_config_errors_name_the_key_path():
    """A bad [jobs_queue] value or an unknown key is a ConfigError naming its key path."""
    cases = [
        ({"url": "localhost"}, "jobs_queue.url"),
        ({"url": "redis://h", "job_timeout": 0}, "jobs_queue.job_timeout"),
        ({"url": "redis://h", "max_tries": 0}, "jobs_queue.max_tries"),
        ({"queue": ""}, "jobs_queue.queue"),
        ({"urll": "redis://h"}, "jobs_queue"),
    ]
    for section, path in cases:
        with pytest.raises(ConfigError) as caught:
            load_config(environ={}, overrides={"jobs_queue": section})
        assert caught.value.path == path, section
