"""Fixtures of the SQL tests: a SQLite file per test, and a PostgreSQL schema per test.

PostgreSQL tests run against ``POLYSOURCE_TEST_POSTGRESQL`` (default
``postgresql://localhost:5432/test``) and fail, never skip, when it cannot be reached. Each
test gets a fresh schema ``ps_<uuid>`` and drops that schema, and nothing else, at the end.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from polysource.cache.tiers import BackendContext
from polysource.testing import FakeClock
from polysource_sql._engine import create_engine, parse_url
from polysource_sql.cache import SqlBackend
from polysource_sql.schema import attempts_table

POSTGRESQL_URL = os.environ.get("POLYSOURCE_TEST_POSTGRESQL", "postgresql://localhost:5432/test")
TIMEOUT = 0.5


@pytest.fixture
def postgresql_url() -> str:
    """The test PostgreSQL database (without a schema)."""
    return POSTGRESQL_URL


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock: wall time moves only when the test says so."""
    return FakeClock()


async def _postgresql(statement: str) -> None:
    conn = await asyncpg.connect(POSTGRESQL_URL, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A new, empty PostgreSQL schema of this test's own, dropped afterwards."""
    name = f"ps_{uuid.uuid4().hex}"
    await _postgresql(f'CREATE SCHEMA "{name}"')
    yield name
    await _postgresql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
async def pg_schema_name() -> AsyncIterator[str]:
    """A PostgreSQL schema name that does not exist yet, dropped afterwards if created."""
    name = f"ps_{uuid.uuid4().hex}"
    await _postgresql("SELECT 1")
    yield name
    await _postgresql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'polysource.db'}"
        return
    name = f"ps_{uuid.uuid4().hex}"
    await _postgresql(f'CREATE SCHEMA "{name}"')
    yield f"{POSTGRESQL_URL}?schema={name}"
    await _postgresql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
async def make_backend(
    clock: FakeClock, database_url: str
) -> AsyncIterator[Callable[..., SqlBackend]]:
    """Factory of backends on ``database_url`` with the fake clock, closed afterwards."""
    made: list[SqlBackend] = []

    def make(url: str | None = None, *, timeout: float = TIMEOUT, **kwargs: Any) -> SqlBackend:
        backend = SqlBackend(url or database_url, BackendContext(clock, timeout), **kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


@pytest.fixture
async def make_engine(database_url: str) -> AsyncIterator[Callable[..., AsyncEngine]]:
    """Factory of bare engines on ``database_url`` (or another URL), disposed afterwards."""
    made: list[AsyncEngine] = []

    def make(url: str | None = None, *, timeout: float = TIMEOUT) -> AsyncEngine:
        engine = create_engine(parse_url(url or database_url, default_file="x.db"), timeout=timeout)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.dispose()


class Statements:
    """The SQL statements an engine sends while the recorder is attached."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(" ".join(statement.split()))

    def starting(self, *words: str) -> list[str]:
        """Statements beginning with one of ``words`` (case-insensitive)."""
        return [s for s in self.seen if s.upper().startswith(tuple(w.upper() for w in words))]


@pytest.fixture
def statements() -> Callable[[AsyncEngine], Any]:
    """``with statements(engine) as seen:`` records what ``engine`` sends in the block."""

    @contextmanager
    def record(engine: AsyncEngine) -> Iterator[Statements]:
        recorder = Statements()
        event.listen(engine.sync_engine, "before_cursor_execute", recorder._record)
        try:
            yield recorder
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", recorder._record)

    return record


async def _attempt_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(attempts_table).order_by(attempts_table.c.id))
        return [dict(row._mapping) for row in result]


@pytest.fixture
def attempt_rows() -> Callable[[AsyncEngine], Awaitable[list[dict[str, Any]]]]:
    """``await attempt_rows(engine)``: every audit row, in insertion order, as dicts."""
    return _attempt_rows


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s")
        await asyncio.sleep(0.01)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """``await eventually(check)``: wait in real time (for real I/O) until ``check()`` holds."""
    return _eventually
