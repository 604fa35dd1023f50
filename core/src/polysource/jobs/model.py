"""Job definitions, schedules, key sets and run records (pure values, no I/O)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs
from attrs import define, field, frozen

from polysource.errors import ConfigError

if TYPE_CHECKING:
    from polysource.config import Config

__all__ = ["Job", "JobInfo", "KeySet", "Schedule", "jobs_from_config", "parse_interval"]

_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_INTERVAL: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")

Kind = Literal["refresh", "purge", "budget_reset"]


def parse_interval(text: str | float, path: str = "every") -> float:
    """Seconds in an interval written ``"90s"``, ``"5m"``, ``"1h"``, ``"1d"`` or a number.

    Raises:
        ConfigError: Not such an interval, or not positive.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _INTERVAL.match(text) if isinstance(text, str) else None
        if match is None:
            shown = repr(text)[:40]
            raise ConfigError(
                f"invalid interval {shown}; write it like '30s', '5m' or '1h'", path=path
            )
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"must be > 0, got {seconds:g}", path=path)
    return seconds


@frozen
class Schedule:
    """When a job runs: every ``every`` seconds, or at each match of ``cron`` in ``tz``."""

    every: float | None = None
    cron: str | None = None
    tz: str | None = None

    def next_after(self, wall: float) -> float:
        """The wall time (epoch seconds) of the first run strictly after ``wall``."""
        if self.cron is not None:
            from zoneinfo import ZoneInfo

            from cronsim import CronSim

            zone = ZoneInfo(self.tz or "UTC")
            return float(next(CronSim(self.cron, datetime.fromtimestamp(wall, zone))).timestamp())
        assert self.every is not None
        return wall + self.every

    def describe(self) -> str:
        """``every 300s`` or ``cron '0 0 * * *' America/New_York``."""
        if self.cron is not None:
            return f"cron {self.cron!r} {self.tz or 'UTC'}"
        return f"every {self.every:g}s"


@frozen
class Job:
    """One job.

    Args:
        name: Unique name.
        kind: ``refresh`` (fetch ``keys`` or ``keyset`` of ``dataset`` anew), ``purge`` (drop
            cached entries of ``dataset``, or all, from memory) or ``budget_reset`` (reset the
            cost budgets of ``providers``, or all).
        schedule: When it runs.
        dataset: The dataset of a refresh or purge.
        keys: A refresh's fixed keys.
        keyset: A refresh's key set name (its keys read at each run).
        region: The refresh's region (default from config).
        providers: A budget reset's providers (empty: every provider with a budget).
        everywhere: A purge also drops the dataset from the shared tiers (``invalidate``).
        paused: The job starts paused.
    """

    name: str
    kind: Kind
    schedule: Schedule
    dataset: str | None = None
    keys: tuple[str, ...] = ()
    keyset: str | None = None
    region: str | None = None
    providers: tuple[str, ...] = ()
    everywhere: bool = False
    paused: bool = False


@frozen
class JobInfo:
    """A job's state, as listed by ``orch.jobs.list()`` (and ``polysource jobs``)."""

    name: str
    kind: str
    schedule: str
    paused: bool
    next_run: float | None
    """Wall time of the next run (``None`` while paused or when a worker fleet runs it)."""
    last_run: float | None
    last_outcome: str | None
    """``ok``, ``partial`` (some keys failed) or ``error: ...``."""
    last_duration: float | None
    runs: int
    keys_refreshed: int
    failures: int

    def as_dict(self) -> dict[str, Any]:
        """The state as a JSON-ready mapping."""
        from attrs import asdict

        return asdict(self)


@define
class JobState:
    """The mutable record of one job in one process."""

    job: Job
    paused: bool = False
    next_run: float | None = None
    last_run: float | None = None
    last_outcome: str | None = None
    last_duration: float | None = None
    runs: int = 0
    keys_refreshed: int = 0
    failures: int = 0

    def info(self) -> JobInfo:
        """The state as a value."""
        return JobInfo(
            name=self.job.name,
            kind=self.job.kind,
            schedule=self.job.schedule.describe(),
            paused=self.paused,
            next_run=None if self.paused else self.next_run,
            last_run=self.last_run,
            last_outcome=self.last_outcome,
            last_duration=self.last_duration,
            runs=self.runs,
            keys_refreshed=self.keys_refreshed,
            failures=self.failures,
        )


@define
class KeySet:
    """A named, ordered set of keys that can change at runtime."""

    name: str
    _keys: dict[str, None] = field(factory=dict, alias="_keys")

    @classmethod
    def of(cls, name: str, keys: Iterable[str]) -> KeySet:
        """A key set holding ``keys`` (duplicates dropped, order kept)."""
        return cls(name, dict.fromkeys(keys))

    def keys(self) -> tuple[str, ...]:
        """The keys, in the order they were added."""
        return tuple(self._keys)

    def add_keys(self, keys: Iterable[str]) -> int:
        """Add keys; returns how many were new."""
        before = len(self._keys)
        self._keys.update(dict.fromkeys(keys))
        return len(self._keys) - before

    def remove_keys(self, keys: Iterable[str]) -> int:
        """Remove keys; returns how many were there."""
        removed = 0
        for key in keys:
            if self._keys.pop(key, 0) is None:
                removed += 1
        return removed


def jobs_from_config(config: Config) -> tuple[list[Job], list[KeySet]]:
    """The jobs of ``[[jobs]]`` and the key sets of ``[keysets]`` (config already checked)."""
    keysets = [KeySet.of(name, keys) for name, keys in config.keysets.items()]
    jobs: list[Job] = []
    for entry in config.jobs:
        schedule = Schedule(
            every=None if entry.every is None else parse_interval(entry.every),
            cron=entry.cron,
            tz=entry.tz,
        )
        if entry.refresh is not None:
            r = entry.refresh
            job = Job(entry.name, "refresh", schedule, r.dataset, r.keys, r.keyset, r.region)
        elif entry.purge is not None:
            job = Job(
                entry.name,
                "purge",
                schedule,
                dataset=entry.purge.dataset,
                everywhere=entry.purge.everywhere,
            )
        else:
            assert entry.budget_reset is not None
            job = Job(entry.name, "budget_reset", schedule, providers=entry.budget_reset.providers)
        jobs.append(attrs.evolve(job, paused=entry.paused))
    return jobs, keysets
