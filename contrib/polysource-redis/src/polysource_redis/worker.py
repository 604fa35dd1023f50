"""Jobs run by arq workers over Redis (``[jobs_queue] url``, ``polysource worker``).

Each job's schedule becomes an arq cron job. Every worker computes the same ticks and
enqueues each under one job id (``{queue}:{job}:{tick in ms}``), so Redis holds one entry per
tick however many workers run, and one worker runs it. A worker killed mid-run leaves the
entry in the queue: once its in-progress mark expires (``job_timeout`` plus arq's grace of
10 s) another worker runs the tick again, up to ``max_tries`` runs. Each completed tick is
appended to ``{queue}:done:{job}`` (the last 100 are kept), the record of which ticks ran.

Interval schedules are aligned on UTC midnight and must divide a minute, an hour or a day
(``every = "15s"``, ``"5m"``, ``"2h"``, ``"1d"``); cron schedules are checked at each minute
in their own time zone. Job payloads are JSON, never pickle.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC
from typing import TYPE_CHECKING, Any, Final, cast

import orjson
from arq.connections import ArqRedis, create_pool
from arq.connections import RedisSettings as ArqSettings
from arq.cron import CronJob, cron
from arq.typing import WorkerCoroutine
from arq.worker import Worker, func

from polysource.errors import ConfigError
from polysource_redis.settings import parse_url

if TYPE_CHECKING:
    from polysource.config import JobsQueueConfig
    from polysource.jobs import Job
    from polysource.orchestrator import Orchestrator

__all__ = ["ArqJobRunner", "cron_options"]

_PATH: Final = "jobs_queue.url"
_RUN_NOW: Final = "run_now"
_KEEP_DONE: Final = 100
_DAY: Final = 86400
_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def _loads(data: bytes) -> Any:
    return orjson.loads(data)


def cron_options(job: Job, path: str) -> dict[str, set[int] | int | None]:
    """The arq cron fields (``hour``, ``minute``, ``second``) that tick like ``job``'s schedule.

    A cron expression ticks every minute; the run checks the expression itself.

    Raises:
        ConfigError: An interval that does not divide a minute, an hour or a day.
    """
    every = job.schedule.every
    if every is None:
        return {"second": 0}
    seconds = int(every)
    if seconds != every or seconds <= 0 or _DAY % seconds:
        raise ConfigError(
            f"arq workers run intervals that divide a day evenly in whole seconds, got {every:g}s",
            path=path,
        )
    if seconds < 60:
        return {"second": set(range(0, 60, seconds))} if 60 % seconds == 0 else _bad(every, path)
    if seconds < 3600:
        if seconds % 60 or 3600 % seconds:
            return _bad(every, path)
        return {"minute": set(range(0, 60, seconds // 60)), "second": 0}
    if seconds % 3600:
        return _bad(every, path)
    return {"hour": set(range(0, 24, seconds // 3600)), "minute": 0, "second": 0}


def _bad(every: float, path: str) -> dict[str, set[int] | int | None]:
    raise ConfigError(
        f"arq workers run intervals that divide a minute, an hour or a day, got {every:g}s",
        path=path,
    )


class ArqJobRunner:
    """Enqueues runs for arq workers, and is the worker of ``polysource worker``.

    Args:
        orchestrator: The started orchestrator whose jobs run.
        config: The ``[jobs_queue]`` section.
    """

    def __init__(self, orchestrator: Orchestrator, config: JobsQueueConfig) -> None:
        assert config.url is not None
        settings = parse_url(config.url)
        if settings.cluster:
            raise ConfigError("arq workers need one Redis server, not a cluster", path=_PATH)
        host, port = settings.nodes[0]
        self._redis = ArqSettings(
            host=host,
            port=port,
            database=settings.db,
            username=settings.username,
            password=None if settings.password is None else settings.password.reveal(),
            ssl=settings.tls,
            ssl_ca_certs=settings.ssl_ca_certs,
            ssl_check_hostname=settings.tls,
        )
        self._orch = orchestrator
        self._config = config
        self._queue = config.queue
        self._pool: ArqRedis | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ArqJobRunner(queue={self._queue!r})"

    async def _connect(self) -> ArqRedis:
        async with self._lock:
            if self._pool is None:
                self._pool = await create_pool(
                    self._redis,
                    job_serializer=_dumps,
                    job_deserializer=_loads,
                    default_queue_name=self._queue,
                )
            return self._pool

    async def enqueue(self, name: str) -> None:
        """Queue one run of job ``name`` for a worker."""
        pool = await self._connect()
        await pool.enqueue_job(_RUN_NOW, name, _queue_name=self._queue)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    def cron_jobs(self) -> list[CronJob]:
        """One arq cron job per job of the orchestrator."""
        crons = []
        for index, name in enumerate(self._orch.jobs.names()):
            job = self._orch.jobs.job(name)
            options = cron_options(job, f"jobs[{index}].every")
            crons.append(
                cron(
                    self._tick(job),
                    name=f"{self._queue}:{name}",
                    timeout=self._config.job_timeout,
                    max_tries=self._config.max_tries,
                    **options,  # type: ignore[arg-type]
                )
            )
        return crons

    def _tick(self, job: Job) -> WorkerCoroutine:
        async def tick(ctx: dict[str, Any]) -> None:
            tick_ms = int(str(ctx["job_id"]).rpartition(":")[2])
            if self._orch.jobs.get(job.name).paused:
                return
            if job.schedule.cron is not None and not _cron_matches(job, tick_ms):
                return
            await self._orch.jobs.execute(job.name)
            await self._record(ctx["redis"], job.name, tick_ms)

        return cast("WorkerCoroutine", tick)

    async def _record(self, redis: ArqRedis, name: str, tick_ms: int) -> None:
        key = f"{self._queue}:done:{name}"
        async with redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, tick_ms)
            pipe.ltrim(key, -_KEEP_DONE, -1)
            await pipe.execute()

    async def _run_now(self, ctx: dict[str, Any], name: str) -> None:
        await self._orch.jobs.execute(name)

    async def work(self) -> None:
        """Run the scheduled ticks and the queued runs until SIGTERM, SIGINT or cancelled."""
        worker = Worker(
            functions=[
                func(self._run_now, name=_RUN_NOW, timeout=self._config.job_timeout, max_tries=1)
            ],
            cron_jobs=self.cron_jobs(),
            redis_pool=await self._connect(),
            queue_name=self._queue,
            job_serializer=_dumps,
            job_deserializer=_loads,
            keep_result=0,
            job_timeout=self._config.job_timeout,
            max_tries=self._config.max_tries,
            timezone=UTC,
            handle_signals=False,
            health_check_key=f"{self._queue}:health-check",
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in _SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        main = asyncio.ensure_future(worker.main())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({main, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for signum in _SIGNALS:
                loop.remove_signal_handler(signum)
            failed = main.done() and not main.cancelled() and main.exception() is not None
            stopped.cancel()
            main.cancel()
            await asyncio.gather(main, stopped, return_exceptions=True)
            # cancels the runs in progress (arq queues them again) and closes the pool
            await worker.close()
            self._pool = None
        if failed:
            raise main.exception()  # type: ignore[misc]


def _cron_matches(job: Job, tick_ms: int) -> bool:
    """Whether the minute of ``tick_ms`` is a match of ``job``'s cron expression."""
    minute = tick_ms // 60_000 * 60
    return job.schedule.next_after(minute - 1) == minute
