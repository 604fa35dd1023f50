"""The jobs of one orchestrator (``orch.jobs``) and the in-process scheduler that runs them.

The scheduler is one task on the orchestrator's clock: it sleeps until the earliest next run,
runs the due jobs one after another, and wakes early when a job is added, paused, resumed or
forced. Tests drive it with [`FakeClock`][polysource.testing.FakeClock] without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from polysource._logging import LazyLogger
from polysource.errors import ConfigError, InvalidRequest
from polysource.jobs.model import Job, JobInfo, JobState, KeySet

if TYPE_CHECKING:
    from polysource.models import BatchResult
    from polysource.orchestrator import Orchestrator

__all__ = ["JobRunner", "JobWorker", "Jobs", "Scheduler"]

_log = LazyLogger("polysource.jobs")


@runtime_checkable
class JobRunner(Protocol):
    """Runs the jobs elsewhere (a worker fleet), returned by a plugin's ``job_runner`` hook.

    While one is set, this process runs no schedule of its own: ``run_now`` enqueues.
    """

    def enqueue(self, name: str) -> Awaitable[None]:
        """Queue one run of job ``name`` for a worker."""
        ...


@runtime_checkable
class JobWorker(JobRunner, Protocol):
    """A runner that can also be the worker (what ``polysource worker`` runs)."""

    def work(self) -> Awaitable[None]:
        """Run the scheduled ticks and queued runs until cancelled or stopped by a signal."""
        ...

    def close(self) -> Awaitable[None]:
        """Release the runner's connections (when the orchestrator closes)."""
        ...


class Jobs:
    """The jobs and key sets of one orchestrator: list, run now, pause, resume, add.

    Args:
        orchestrator: The orchestrator whose public API the jobs call.
        jobs: The job definitions.
        keysets: Named key sets.
    """

    def __init__(
        self,
        orchestrator: Orchestrator,
        jobs: Iterable[Job] = (),
        keysets: Iterable[KeySet] = (),
    ) -> None:
        self._orch = orchestrator
        self._states: dict[str, JobState] = {}
        self._keysets: dict[str, KeySet] = {k.name: k for k in keysets}
        self.runner: JobRunner | None = None
        """The plugin runner jobs are enqueued to, or ``None`` (in-process scheduler)."""
        self._scheduler: Scheduler | None = None
        for job in jobs:
            self.add(job)

    # definitions -------------------------------------------------------------------------

    def add(self, job: Job, *, paused: bool = False) -> None:
        """Add a job (a name already taken raises ``InvalidRequest``)."""
        if job.name in self._states:
            raise InvalidRequest(f"a job named {job.name!r} exists already")
        if job.keyset is not None and job.keyset not in self._keysets:
            raise ConfigError(
                f"unknown key set {job.keyset!r}; key sets: "
                f"{', '.join(sorted(self._keysets)) or '(none)'}",
                path=f"jobs.{job.name}.keyset",
            )
        state = JobState(job, paused=paused or job.paused)
        self._states[job.name] = state
        if self._scheduler is not None:
            self._scheduler.plan(state)

    def remove(self, name: str) -> None:
        """Remove a job."""
        self._state(name)
        del self._states[name]
        self._wake()

    def keyset(self, name: str) -> KeySet:
        """The key set ``name``, created empty if new (add keys to it at runtime)."""
        found = self._keysets.get(name)
        if found is None:
            found = self._keysets[name] = KeySet.of(name, ())
        return found

    @property
    def keysets(self) -> dict[str, KeySet]:
        """Every key set, by name."""
        return dict(self._keysets)

    def names(self) -> tuple[str, ...]:
        """The job names, in the order they were added."""
        return tuple(self._states)

    def job(self, name: str) -> Job:
        """The definition of job ``name``."""
        return self._state(name).job

    def get(self, name: str) -> JobInfo:
        """The state of job ``name``."""
        return self._state(name).info()

    def list(self) -> list[JobInfo]:
        """Every job's state: schedule, last run, outcome, duration, next run, counts."""
        return [state.info() for state in self._states.values()]

    def __iter__(self) -> Any:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._states)

    def _state(self, name: str) -> JobState:
        state = self._states.get(name)
        if state is None:
            raise InvalidRequest(
                f"unknown job {name[:40]!r}; jobs: {', '.join(self._states) or '(none)'}"
            )
        return state

    # control ------------------------------------------------------------------------------

    def pause(self, name: str) -> JobInfo:
        """Stop scheduling job ``name`` (a run in progress finishes)."""
        state = self._state(name)
        state.paused = True
        self._wake()
        return state.info()

    def resume(self, name: str) -> JobInfo:
        """Schedule job ``name`` again, from now."""
        state = self._state(name)
        state.paused = False
        if self._scheduler is not None:
            self._scheduler.plan(state)
        return state.info()

    async def run_now(self, name: str) -> JobInfo:
        """Run job ``name`` now (paused or not); with a worker fleet, enqueue one run."""
        state = self._state(name)
        if self.runner is not None:
            await self.runner.enqueue(name)
            return state.info()
        return await self.execute(name)

    async def execute(self, name: str) -> JobInfo:
        """Run job ``name`` in this process and record the outcome (what workers call)."""
        state = self._state(name)
        clock = self._orch.clock
        started = clock.monotonic()
        state.last_run = clock.time()
        try:
            refreshed, failed = await _run(self._orch, state.job, self._keysets)
        except Exception as exc:  # noqa: BLE001 - a job's failure is its outcome, not a crash
            state.failures += 1
            state.last_outcome = f"error: {type(exc).__name__}: {str(exc)[:200]}"
            _log.warning("job_failed", job=name, error=state.last_outcome)
        else:
            state.keys_refreshed += refreshed
            state.failures += failed
            state.last_outcome = "ok" if not failed else "partial"
        state.runs += 1
        state.last_duration = clock.monotonic() - started
        return state.info()

    # lifecycle ----------------------------------------------------------------------------

    async def start(self, runner: JobRunner | None = None) -> None:
        """Start the in-process scheduler, unless ``runner`` runs the jobs elsewhere.

        Raises:
            ConfigError: ``[jobs_queue] url`` is set but no plugin runs jobs from it.
        """
        url = self._orch.config.jobs_queue.url
        if runner is None and url is not None:
            scheme = url.partition("://")[0][:20]
            raise ConfigError(
                f"no installed plugin runs jobs from a {scheme!r} queue "
                "(for redis://, install polysource-redis[worker])",
                path="jobs_queue.url",
            )
        self.runner = runner
        if runner is None and self._states:
            self._scheduler = Scheduler(self)
            self._scheduler.start()

    async def close(self) -> None:
        """Stop the scheduler (a run in progress is cancelled)."""
        if self._scheduler is not None:
            await self._scheduler.close()
            self._scheduler = None
        if isinstance(self.runner, JobWorker):
            await self.runner.close()

    def _wake(self) -> None:
        if self._scheduler is not None:
            self._scheduler.wake()


class Scheduler:
    """Runs the due jobs of [`Jobs`][polysource.jobs.scheduler.Jobs] on the orchestrator's clock,
    in one task."""

    def __init__(self, jobs: Jobs) -> None:
        self._jobs = jobs
        self._clock = jobs._orch.clock
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def plan(self, state: JobState) -> None:
        """Set the next run of ``state`` from now and wake the loop."""
        state.next_run = state.job.schedule.next_after(self._clock.time())
        self.wake()

    def wake(self) -> None:
        """Re-read the plan (a job was added, paused, resumed or removed)."""
        self._changed.set()

    def start(self) -> None:
        """Plan every job and start the loop."""
        for state in self._jobs._states.values():
            state.next_run = state.job.schedule.next_after(self._clock.time())
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="polysource-jobs")

    async def close(self) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _due(self) -> tuple[float | None, list[JobState]]:
        now = self._clock.time()
        active = [s for s in self._jobs._states.values() if not s.paused and s.next_run is not None]
        due = [s for s in active if s.next_run is not None and s.next_run <= now + 1e-9]
        if due:
            return 0.0, due
        upcoming = min((s.next_run for s in active if s.next_run is not None), default=None)
        return (None if upcoming is None else upcoming - now), []

    async def _loop(self) -> None:
        while True:
            self._changed.clear()
            delay, due = self._due()
            for state in due:
                scheduled = state.next_run
                assert scheduled is not None
                await self._jobs.execute(state.job.name)
                # the next tick after the one just run; ticks missed while it ran are skipped
                nxt = state.job.schedule.next_after(scheduled)
                now = self._clock.time()
                while nxt <= now:
                    nxt = state.job.schedule.next_after(nxt)
                state.next_run = nxt
            if due:
                continue
            await self._wait(delay)

    async def _wait(self, delay: float | None) -> None:
        changed = asyncio.ensure_future(self._changed.wait())
        waits: set[asyncio.Future[Any]] = {changed}
        if delay is not None:
            waits.add(asyncio.ensure_future(self._clock.sleep(max(0.0, delay))))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
            await asyncio.gather(*waits, return_exceptions=True)


async def _run(orch: Orchestrator, job: Job, keysets: dict[str, KeySet]) -> tuple[int, int]:
    """Run one job through the public API; returns (keys refreshed, failures)."""
    if job.kind == "refresh":
        assert job.dataset is not None
        keys = list(job.keys)
        if job.keyset is not None:
            extra = keysets[job.keyset].keys()
            keys += [k for k in extra if k not in job.keys]
        if not keys:
            return 0, 0
        await orch.invalidate(job.dataset, keys, region=job.region)
        batch: BatchResult[Any] = await orch.fetch_many(job.dataset, keys, region=job.region)
        return len(batch.results), len(batch.errors)
    if job.kind == "purge":
        if job.everywhere and job.dataset is not None:
            await orch.invalidate(job.dataset)
        else:
            orch.clear_cache(job.dataset)
        return 0, 0
    names = job.providers or tuple(orch.stats().providers)
    for name in names:
        orch.reset_budget(name)
    return 0, 0
