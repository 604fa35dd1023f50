"""The provider-attempt audit log: [`AuditLog`][polysource_sql.audit.AuditLog], an ``on_event``
sink writing to SQL.

Every provider attempt that ends (a ``success`` or ``failure`` event) becomes a row of
``polysource_attempts``. The request path only appends the event to a bounded in-memory
queue; a task started in ``startup`` writes the queue in batches, one transaction per batch,
and deletes rows older than the retention on each write; ``shutdown`` writes what is left.

Nothing secret is stored: ``key_hash`` holds the key of a private dataset as the keyed
pseudonym the event carries
([`polysource.security.Keyring.pseudonym()`][polysource.security.Keyring.pseudonym]) and any other
key
as a short hash of it; ``tenant_hash`` holds the tenant's pseudonym the event carries; the
event's ``detail`` is not stored at all.

``failover`` is true on the first attempt at the next provider after a ``failover`` event
for the same dataset and key, within
[`FAILOVER_WINDOW`][polysource_sql.audit.FAILOVER_WINDOW] seconds. Events carry no request
id, so two concurrent requests for the same dataset and key (from different tenants or
regions) can be confused; operations emit no ``failover`` event, so their rows always say
false.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

import structlog
from attrs import frozen
from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from polysource.clock import Clock, SystemClock
from polysource.events import Event, EventKind
from polysource.hookspecs import hookimpl
from polysource_sql._engine import Target, check_writable, create_engine, parse_url
from polysource_sql.errors import AuditReadError, AuditWriteError, NotWritable
from polysource_sql.schema import attempts_table, migrate

if TYPE_CHECKING:
    from polysource.orchestrator import Orchestrator

__all__ = ["AuditLog", "DEFAULT_AUDIT_FILE", "FAILOVER_WINDOW", "ProviderStats"]

DEFAULT_AUDIT_FILE: Final = "polysource-audit.db"
"""The file ``sqlite://`` (no path) opens for the audit log, in the working directory."""

FAILOVER_WINDOW: Final = 120.0
"""Seconds after a ``failover`` event within which the next provider's attempt is marked."""

_DAY: Final = 86400.0
_PENDING_FAILOVERS: Final = 4096  # (dataset, key) pairs awaiting their next attempt
_REDACTED: Final = re.compile(r"h:[0-9a-f]{12}")
_log = structlog.get_logger("polysource.sql")
_a = attempts_table.c


@frozen
class ProviderStats:
    """One provider's attempts over a window, from
    [`AuditLog.stats()`][polysource_sql.audit.AuditLog.stats].

    Attributes:
        provider: The provider.
        attempts: Attempts that ended (successes plus failures).
        successes: Attempts that succeeded.
        failures: Attempts that failed.
        failovers: Attempts made because the previous provider failed.
        success_rate: ``successes / attempts``.
        mean_latency: Mean seconds of the successful attempts (``None`` without any).
        p50_latency: Median seconds of the successful attempts (``None`` without any).
    """

    provider: str
    attempts: int
    successes: int
    failures: int
    failovers: int
    success_rate: float
    mean_latency: float | None
    p50_latency: float | None


class AuditLog:
    """Records provider attempts in ``polysource_attempts``, off the request path.

    Pass it to the orchestrator as a plugin (see
    [`polysource_sql.audit_plugin()`][polysource_sql.audit_plugin]):

        Orchestrator(plugins=[audit_plugin("postgresql://app@db/app?schema=polysource")])

    Args:
        url: ``sqlite://`` (the file ``polysource-audit.db``), ``sqlite:///path.db`` or
            ``postgresql://user:password@host:port/db?schema=name``.
        retention_days: Rows older than this are deleted on each write (``None``: kept).
        clock: For retention, the flush interval and `stats()` windows (default: the
            orchestrator's clock, adopted at ``startup``).
        batch_size: Most rows per ``INSERT``; a full batch wakes the writer at once.
        flush_interval: Seconds a partial batch may wait before it is written.
        queue_size: Most rows waiting; beyond it the oldest are dropped and counted.
        timeout: Seconds a write may take, also how long a lock is waited for.
        drain: Seconds ``shutdown`` gives the writer to empty the queue.
    """

    plugin_name = "polysource_sql.audit"
    event_kinds: Final = frozenset({EventKind.SUCCESS, EventKind.FAILURE, EventKind.FAILOVER})

    def __init__(
        self,
        url: str,
        *,
        retention_days: float | None = 30,
        clock: Clock | None = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        queue_size: int = 50_000,
        timeout: float = 5.0,
        drain: float = 5.0,
    ) -> None:
        if batch_size < 1 or queue_size < batch_size:
            raise ValueError("batch_size must be >= 1 and queue_size >= batch_size")
        self._target: Target = parse_url(url, default_file=DEFAULT_AUDIT_FILE)
        self.retention_days = retention_days
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._own_clock = clock is not None
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.drain = drain
        self.engine: AsyncEngine = create_engine(self._target, timeout=timeout)
        self.queue: deque[tuple[Event, bool]] = deque(maxlen=queue_size)
        self.written = 0
        self.batches = 0
        self.dropped = 0
        self.failed_writes = 0
        self._failovers: dict[tuple[str | None, str | None], tuple[str | None, float]] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._migrated = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- the request path ----------------------------------------------------------------------

    @hookimpl
    def on_event(self, event: Event) -> None:
        """Queue a finished attempt (or note a failover); never waits, never does I/O."""
        if event.kind is EventKind.FAILOVER:
            self._note_failover(event)
            return
        failover = False
        if self._failovers:
            pending = self._failovers.pop((event.dataset, event.key), None)
            if pending is not None:
                failed, at = pending
                failover = (
                    event.provider != failed
                    and (event.attempt is None or event.attempt == 1)
                    and event.at - at <= FAILOVER_WINDOW
                )
        queue = self.queue
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append((event, failover))
        if len(queue) >= self.batch_size:
            self._wake.set()

    def _note_failover(self, event: Event) -> None:
        failovers = self._failovers
        failovers.pop((event.dataset, event.key), None)
        if len(failovers) >= _PENDING_FAILOVERS:
            del failovers[next(iter(failovers))]
        failovers[(event.dataset, event.key)] = (event.provider, event.at)

    # -- lifecycle -----------------------------------------------------------------------------

    @hookimpl
    def startup(self, orchestrator: Orchestrator) -> None:
        """Start the writer task in the orchestrator's lifecycle."""
        if not self._own_clock:
            self.clock = orchestrator.clock
        self._stopping = False
        self._stop.clear()
        self._task = orchestrator.spawn(self._run(), name="polysource.sql.audit")

    @hookimpl
    async def shutdown(self, orchestrator: Orchestrator) -> None:
        """Give the writer ``drain`` seconds to write what is queued, then close."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._stop.set()
            self._wake.set()
            try:
                async with self.clock.timeout(self.drain):
                    await task  # cancelled with this block when ``drain`` runs out
            except TimeoutError:
                pass
            except Exception as exc:  # noqa: BLE001 - shutdown must go on
                _log.error("sql_audit_writer_failed", error=_describe(exc))
            await asyncio.gather(task, return_exceptions=True)
        if self.queue:
            _log.warning("sql_audit_rows_lost", rows=len(self.queue), audit=repr(self))
        await self.close()

    async def close(self) -> None:
        """Close the connections (queued rows stay queued; `flush()` first to keep them)."""
        await self.engine.dispose()

    # -- writing -------------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write every row queued now, in batches; returns how many were written.

        Raises:
            AuditWriteError: A batch could not be written (the database is down, locked or
                slower than ``timeout``); its rows, and those behind it, stay queued.
        """
        total = 0
        while self.queue:
            total += await self._write_batch()
        return total

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._stopping and len(self.queue) < self.batch_size:
                await self._wait(self.flush_interval)
            self._wake.clear()
            if not self.queue:
                if self._stopping:
                    return
                continue
            try:
                await self._write_batch()
            except Exception as exc:  # noqa: BLE001 - the database being down must not stop us
                failures += 1
                self.failed_writes += 1
                _log.warning("sql_audit_write_failed", error=_describe(exc), audit=repr(self))
                if self._stopping:
                    return
                # New rows do not cut a backoff short; only shutdown does.
                await self._wait(min(60.0, self.flush_interval * 2**failures), self._stop)
            else:
                failures = 0

    async def _wait(self, delay: float, until: asyncio.Event | None = None) -> None:
        """Wait ``delay`` seconds of the clock, or until ``until`` (default: a full batch)."""
        try:
            async with self.clock.timeout(delay):
                await (until or self._wake).wait()
        except TimeoutError:
            pass

    async def _write_batch(self) -> int:
        """Write the oldest batch; its rows leave the queue only once committed."""
        async with self._write_lock:
            batch = list(islice(self.queue, self.batch_size))
            if not batch:
                return 0
            rows = [_row(event, failover) for event, failover in batch]
            try:
                check_writable(self._target)
                async with self.clock.timeout(self.timeout):
                    await self._ready()
                    async with self.engine.begin() as conn:
                        await conn.execute(insert(attempts_table), rows)
                        if self.retention_days is not None:
                            cutoff = self.clock.time() - self.retention_days * _DAY
                            await conn.execute(delete(attempts_table).where(_a.at < cutoff))
            except (SQLAlchemyError, OSError, TimeoutError, NotWritable) as exc:
                cause = _cause(exc)
                # from None: SQLAlchemy's message carries the statement, and a driver's may
                # quote parameters (hashed keys); the class names say what went wrong.
                raise AuditWriteError(
                    f"audit log {self._target.display!r}: a batch of {len(rows)} rows was not "
                    f"written ({cause}); they stay queued",
                    rows=len(rows),
                    cause=cause,
                ) from None
            self._pop_written(batch)
            self.written += len(rows)
            self.batches += 1
            return len(rows)

    def _pop_written(self, batch: list[tuple[Event, bool]]) -> None:
        # Rows queued while writing sit behind the batch; a full queue may have dropped some
        # of the batch from the front meanwhile, so pop only what is still the batch's.
        queue = self.queue
        for item in batch:
            if queue and queue[0] is item:
                queue.popleft()

    async def _ready(self) -> None:
        if not self._migrated:
            await migrate(self.engine, now=self.clock.time(), schema=self._target.schema)
            self._migrated = True

    # -- querying ------------------------------------------------------------------------------

    async def stats(self, since_seconds: float = _DAY) -> dict[str, ProviderStats]:
        """Per provider, the attempts of the last ``since_seconds`` written so far.

        Latencies are of successful attempts only (a timeout's duration is the timeout).
        Returns providers in name order.

        Raises:
            NotWritable: The SQLite file's ``-shm`` index is read-only (reading would crash).
            AuditReadError: The database could not answer (it is down, or the tables are not
                the audit log's); the message names the error classes, never the statement.
        """
        check_writable(self._target)
        try:
            return await self._stats(since_seconds)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            cause = _cause(exc)
            # from None: SQLAlchemy's message carries the statement (see _write_batch).
            raise AuditReadError(
                f"audit log {self._target.display!r}: the attempts could not be read ({cause})",
                cause=cause,
            ) from None

    async def _stats(self, since_seconds: float) -> dict[str, ProviderStats]:
        await self._ready()
        since = self.clock.time() - since_seconds
        is_success = _a.outcome == "success"
        timed = is_success & _a.duration.is_not(None)
        totals = (
            select(
                _a.provider,
                func.count().label("attempts"),
                func.sum(case((is_success, 1), else_=0)).label("successes"),
                func.sum(case((_a.failover, 1), else_=0)).label("failovers"),
                func.avg(case((timed, _a.duration))).label("mean"),
            )
            .where(_a.at >= since)
            .group_by(_a.provider)
            .order_by(_a.provider)
        )
        ranked = (
            select(
                _a.provider,
                _a.duration,
                func.row_number()
                .over(partition_by=_a.provider, order_by=_a.duration)
                .label("rank"),
                func.count().over(partition_by=_a.provider).label("n"),
            )
            .where(_a.at >= since, timed)
            .subquery()
        )
        middle = ranked.c.rank.between((ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2)
        medians = (
            select(ranked.c.provider, func.avg(ranked.c.duration))
            .where(middle)
            .group_by(ranked.c.provider)
        )
        async with self.engine.connect() as conn:
            total_rows = (await conn.execute(totals)).all()
            median = dict((await conn.execute(medians)).all())
        return {row.provider: _provider_stats(row, median.get(row.provider)) for row in total_rows}

    def __repr__(self) -> str:
        return (
            f"AuditLog({self._target.display!r}, written={self.written}, "
            f"queued={len(self.queue)}, dropped={self.dropped})"
        )


def _row(event: Event, failover: bool) -> dict[str, Any]:
    """The row of a finished attempt: pseudonyms or hashes of the key and tenant, no ``detail``."""
    return {
        "at": event.at,
        "provider": event.provider or "?",
        "target": event.dataset,
        "key_hash": _hashed(event.key),
        "tenant_hash": _hashed(event.tenant),
        "duration": event.duration,
        "outcome": "success" if event.kind is EventKind.SUCCESS else "failure",
        "category": event.category,
        "attempt": event.attempt,
        "failover": failover,
    }


def _hashed(value: str | None) -> str | None:
    """A pseudonym as the event carries it; anything else (a public key) as a short hash."""
    if value is None or _REDACTED.fullmatch(value):
        return value
    return "h:" + hashlib.blake2b(value.encode(), digest_size=6).hexdigest()


def _provider_stats(row: Any, median: Any) -> ProviderStats:
    attempts = int(row.attempts)
    successes = int(row.successes or 0)
    return ProviderStats(
        provider=row.provider,
        attempts=attempts,
        successes=successes,
        failures=attempts - successes,
        failovers=int(row.failovers or 0),
        success_rate=successes / attempts if attempts else 0.0,
        mean_latency=float(row.mean) if row.mean is not None else None,
        p50_latency=float(median) if median is not None else None,
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _cause(exc: BaseException) -> str:
    """The class names of ``exc`` and the driver error under it, without any message."""
    if isinstance(exc, TimeoutError):
        return "TimeoutError: slower than the timeout"
    if isinstance(exc, DBAPIError):
        lost = ", connection lost" if exc.connection_invalidated else ""
        return f"{type(exc).__name__}: {type(exc.orig).__name__}{lost}"
    return type(exc).__name__
