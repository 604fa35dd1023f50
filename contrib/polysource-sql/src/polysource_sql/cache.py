"""The L3 cache tier in SQL: [`SqlBackend`][polysource_sql.cache.SqlBackend], claimed for
``sqlite://`` and ``postgresql://``.

Rows live in ``polysource_cache`` (see [`polysource_sql.schema`][polysource_sql.schema]) with their
expiry in
wall-clock seconds, so every process sharing the database agrees on freshness. Reads ignore
expired rows; a periodic purge, owned by the backend, deletes them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, Final, TypeVar

import structlog
from sqlalchemy import ColumnElement, Insert, Text, any_, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from polysource.cache.tiers import BackendContext
from polysource_sql._engine import (
    Target,
    autocommit,
    check_writable,
    create_engine,
    parse_url,
    statement_bound,
)
from polysource_sql.schema import cache_table, migrate

__all__ = [
    "DEFAULT_PURGE_INTERVAL",
    "DEFAULT_SQLITE_FILE",
    "MAX_KEY_BYTES",
    "SqlBackend",
    "glob_to_like",
]

DEFAULT_SQLITE_FILE: Final = "polysource-cache.db"
"""The file ``sqlite://`` (no path) opens, in the working directory."""

DEFAULT_PURGE_INTERVAL: Final = 300.0
"""Seconds between purges of expired rows."""

MAX_KEY_BYTES: Final = 2048
"""Longest key stored, in UTF-8 bytes (PostgreSQL's primary-key index takes rows of at most
2704 bytes); a longer key, or one with a NUL character or a lone surrogate, is never stored."""

_SQLITE_CHUNK: Final = 900  # bound parameters per statement, under SQLite's oldest limit (999)
_log = structlog.get_logger("polysource.sql")

_c = cache_table.c

T = TypeVar("T")


class SqlBackend:
    """A `CacheBackend` on SQLite or PostgreSQL.

    Tables are created or migrated on first use, in a task of the backend's own that survives
    the engine abandoning a slow operation, so a first use over a slow link still completes.
    The periodic purge starts then too; `close()` cancels both.

    A key the database cannot hold (over `MAX_KEY_BYTES`, with a NUL character, or not
    valid Unicode) is never sent to it: reading it is a miss, writing or deleting it does
    nothing. One request's odd key therefore never fails an operation, which would detach
    the tier for everyone.

    Every statement runs in a task of the backend's own too: a caller that gives up (the tier
    timeout, a cancelled request) stops waiting for it, but the statement finishes and its
    connection goes back to the pool clean. The drivers bound such a task: SQLite's busy
    timeout and PostgreSQL's ``lock_timeout`` are the operation timeout, and asyncpg gives up
    on a statement (cancelling it on the server) after the purge's bound.

    Args:
        url: ``sqlite://`` (the file ``polysource-cache.db``), ``sqlite:///path.db``,
            ``sqlite:////absolute/path.db``, or
            ``postgresql://user:password@host:port/db?schema=name``. Query options:
            ``purge_interval`` (seconds; ``0`` turns the purge off), ``journal_mode``
            (SQLite; ``wal`` by default), ``schema`` (PostgreSQL); other options go to the
            driver.
        context: The clock (wall time decides expiry) and the operation timeout, which is
            also how long a lock is waited for (SQLite busy timeout, PostgreSQL
            ``lock_timeout``).
        purge_interval: Seconds between purges when the URL does not say.
    """

    def __init__(
        self,
        url: str,
        context: BackendContext,
        *,
        purge_interval: float = DEFAULT_PURGE_INTERVAL,
    ) -> None:
        self._target: Target = parse_url(url, default_file=DEFAULT_SQLITE_FILE)
        self.name: str = self._target.dialect
        self.clock = context.clock
        self.timeout = context.timeout
        self.purge_interval = (
            purge_interval if self._target.purge_interval is None else self._target.purge_interval
        )
        self.engine: AsyncEngine = create_engine(self._target, timeout=context.timeout)
        self._one_statement = autocommit(self.engine)
        self._postgresql = self._target.dialect == "postgresql"
        self._upsert = _upsert_statement(self._postgresql)
        self._ready: asyncio.Task[None] | None = None
        self._is_ready = False
        self._purger: asyncio.Task[None] | None = None
        self._operations: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- CacheBackend --------------------------------------------------------------------------

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Unexpired records for ``keys`` (``None`` where absent), in one ``SELECT``.

        SQLite statements carry at most 900 keys each, so a larger request takes several.
        """
        if not keys:
            return []
        storable = [key for key in keys if _storable(key)]
        if not storable:
            return [None] * len(keys)
        await self._ensure_ready()
        found = await self._owned(self._select(storable, self.clock.time()))
        return [found.get(key) for key in keys]

    async def set(self, key: str, record: bytes, ttl: float) -> None:
        """Insert or replace ``key``'s record, to expire ``ttl`` seconds from now.

        A key the database cannot hold is skipped (see `MAX_KEY_BYTES`).
        """
        if not _storable(key):
            _log.debug("sql_cache_key_skipped", backend=repr(self))
            return
        await self._ensure_ready()
        if ttl <= 0:  # born expired: the older record must not outlive it
            await self.delete((key,))
            return
        await self._owned(
            self._execute(
                self._upsert, {"key": key, "record": record, "expires_at": self.clock.time() + ttl}
            )
        )

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove ``keys``."""
        keys = [key for key in keys if _storable(key)]
        if not keys:
            return
        await self._ensure_ready()
        await self._owned(self._delete(keys))

    async def delete_pattern(self, pattern: str) -> int:
        """Remove every key matching the glob ``pattern``; returns how many rows went.

        ``*`` matches any run of characters, ``?`` one character, and ``\\`` makes the next
        character literal. Matching is case-sensitive on both databases.

        Raises:
            ValueError: The pattern has a character class (``[...]``), which ``LIKE`` lacks.
        """
        like, glob = glob_to_like(pattern)
        if _utf8_size(pattern) is None:
            return 0  # no stored key has a NUL character or a lone surrogate
        await self._ensure_ready()
        where: ColumnElement[bool] = _c.key.like(like, escape="\\")
        if not self._postgresql:  # SQLite's LIKE ignores ASCII case; GLOB does not
            where = where & _c.key.op("GLOB", is_comparison=True)(glob)
        return await self._owned(self._execute(delete(cache_table).where(where)))

    async def close(self) -> None:
        """Stop the migration and purge tasks, let running statements end, close connections.

        A statement still running after the purge's bound is cancelled.
        """
        self._closed = True
        self._is_ready = False
        tasks = [task for task in (self._ready, self._purger) if task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._purger = None
        if self._operations:
            try:
                async with self.clock.timeout(self._statement_bound):
                    await asyncio.wait(self._operations)
            except TimeoutError:
                for task in self._operations:
                    task.cancel()
        await self.engine.dispose()

    # -- maintenance ---------------------------------------------------------------------------

    async def purge_expired(self) -> int:
        """Delete the rows that have expired; returns how many."""
        await self._ensure_ready()
        return await self._owned(
            self._execute(delete(cache_table).where(_c.expires_at <= self.clock.time()))
        )

    async def _purge_periodically(self) -> None:
        while True:
            await self.clock.sleep(self.purge_interval)
            try:
                async with self.clock.timeout(self._statement_bound):
                    purged = await self.purge_expired()
            except Exception as exc:  # noqa: BLE001 - a failed purge is retried next interval
                _log.warning("sql_cache_purge_failed", backend=repr(self), error=_describe(exc))
            else:
                if purged:
                    _log.debug("sql_cache_purged", backend=repr(self), rows=purged)

    # -- first use -----------------------------------------------------------------------------

    async def _ensure_ready(self) -> None:
        if self._is_ready:
            return
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self._ready is None or _failed(self._ready):
            # The backend owns this task: it outlives an operation the engine gives up on.
            self._ready = asyncio.get_running_loop().create_task(
                self._prepare(), name="polysource.sql.prepare"
            )
            self._ready.add_done_callback(_retrieve)
        # shield: a caller timing out must not cancel the migration other callers wait for.
        await asyncio.shield(self._ready)

    async def _prepare(self) -> None:
        if self._target.dialect == "sqlite":
            directory = os.path.dirname(self._target.url.database or "")
            await asyncio.to_thread(os.makedirs, directory, exist_ok=True)
            check_writable(self._target)
        await migrate(self.engine, now=self.clock.time(), schema=self._target.schema)
        self._is_ready = True
        if self.purge_interval > 0 and self._purger is None and not self._closed:
            self._purger = asyncio.get_running_loop().create_task(
                self._purge_periodically(), name="polysource.sql.purge"
            )

    # -- statements ----------------------------------------------------------------------------

    async def _owned(self, operation: Coroutine[Any, Any, T]) -> T:
        """Run ``operation`` in a task of the backend's own and wait for its result.

        shield: cancelling a caller inside the driver's await would leave the statement
        unfinished on a pooled connection (aiosqlite keeps stepping it in its thread), which
        then holds SQLite's shared lock, or its WAL read mark, for the life of the process:
        writers time out and the WAL is never checkpointed. The task finishes the statement
        and returns the connection; only the caller stops waiting.
        """
        try:
            check_writable(self._target)
        except BaseException:
            operation.close()  # never started
            raise
        task = asyncio.get_running_loop().create_task(operation)
        self._operations.add(task)
        task.add_done_callback(self._operation_done)
        return await asyncio.shield(task)

    def _operation_done(self, task: asyncio.Task[Any]) -> None:
        self._operations.discard(task)
        _retrieve(task)  # its caller may have given up on it

    async def _select(self, keys: Sequence[str], now: float) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        async with self._one_statement.connect() as conn:
            for where in self._key_filters(keys):
                rows = await conn.execute(
                    select(_c.key, _c.record).where(where, _c.expires_at > now)
                )
                found.update((row.key, row.record) for row in rows)
        return found

    async def _execute(self, statement: Any, parameters: dict[str, Any] | None = None) -> int:
        """Run one statement on its own (no transaction); returns the rows it touched."""
        async with self._one_statement.connect() as conn:
            result = await conn.execute(statement, parameters)
        return int(result.rowcount)

    async def _delete(self, keys: Sequence[str]) -> None:
        async with self.engine.begin() as conn:
            for where in self._key_filters(keys):
                await conn.execute(delete(cache_table).where(where))

    @property
    def _statement_bound(self) -> float:
        """Seconds a purge, or the wait for running statements at close, may take."""
        return statement_bound(self.timeout)

    def _key_filters(self, keys: Sequence[str]) -> Iterator[ColumnElement[bool]]:
        """``key`` filters covering ``keys``: one ``= ANY(array)``, or ``IN`` chunks on SQLite."""
        unique = list(dict.fromkeys(keys))
        if self._postgresql:
            yield _c.key == any_(bindparam("keys", unique, type_=postgresql.ARRAY(Text)))
            return
        for start in range(0, len(unique), _SQLITE_CHUNK):
            yield _c.key.in_(unique[start : start + _SQLITE_CHUNK])

    def __repr__(self) -> str:
        return f"SqlBackend({self._target.display!r})"


def _upsert_statement(is_postgresql: bool) -> Insert:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` in the backend's dialect."""
    insert = postgresql.insert if is_postgresql else sqlite.insert
    statement = insert(cache_table).values(
        key=bindparam("key"), record=bindparam("record"), expires_at=bindparam("expires_at")
    )
    return statement.on_conflict_do_update(
        index_elements=[_c.key],
        set_={"record": statement.excluded.record, "expires_at": statement.excluded.expires_at},
    )


def glob_to_like(pattern: str) -> tuple[str, str]:
    """Translate a glob into a ``LIKE`` pattern (escape ``\\``) and an SQLite ``GLOB`` one.

    Raises:
        ValueError: ``pattern`` has a character class or ends in a lone backslash.
    """
    like: list[str] = []
    glob: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "*":
            like.append("%")
            glob.append("*")
        elif char == "?":
            like.append("_")
            glob.append("?")
        elif char == "[":
            raise ValueError(f"pattern {pattern!r}: character classes ([...]) are not supported")
        else:
            literal = char
            if char == "\\":
                literal = next(chars, "")
                if not literal:
                    raise ValueError(f"pattern {pattern!r} ends in a lone backslash")
            like.append("\\" + literal if literal in "%_\\" else literal)
            glob.append(f"[{literal}]" if literal in "*?[" else literal)
    return "".join(like), "".join(glob)


def _storable(key: str) -> bool:
    """Whether the database can hold ``key``: valid Unicode without NUL, short enough."""
    size = _utf8_size(key)
    return size is not None and size <= MAX_KEY_BYTES


def _utf8_size(text: str) -> int | None:
    """``text``'s size in UTF-8, or ``None`` when no database column can hold it (a NUL
    character, which PostgreSQL's text refuses, or a lone surrogate, which UTF-8 cannot say)."""
    if "\x00" in text:
        return None
    if text.isascii():
        return len(text)
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return None


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a failure as seen: the callers that awaited it may all have given up already."""
    if not task.cancelled():
        task.exception()


def _describe(exc: BaseException) -> str:
    """Class names only: SQLAlchemy's message quotes the statement (and a driver's may quote
    its parameters)."""
    if isinstance(exc, DBAPIError):
        return f"{type(exc).__name__}: {type(exc.orig).__name__}"
    return type(exc).__name__
