"""URLs, files, schemas, secrets in URLs, TLS, and bounded waits on a locked SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from polysource.cache.tiers import BackendContext
from polysource.errors import ConfigError
from polysource_sql.audit import AuditLog
from polysource_sql.cache import SqlBackend

TIMEOUT = 0.3


@pytest.fixture
async def backends(clock) -> Iterator[list[SqlBackend]]:
    """Backends made by the test, closed afterwards."""
    made: list[SqlBackend] = []
    yield made
    for backend in made:
        await backend.close()


def _backend(made: list[SqlBackend], url: str, clock, timeout: float = TIMEOUT) -> SqlBackend:
    backend = SqlBackend(url, BackendContext(clock, timeout))
    made.append(backend)
    return backend


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Another connection holding an exclusive lock on the file (``BEGIN EXCLUSIVE``)."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


async def test_sqlite_without_a_path_opens_the_default_file(backends, clock, tmp_path, monkeypatch):
    """``sqlite://`` stores in ``polysource-cache.db`` in the working directory, not memory."""
    monkeypatch.chdir(tmp_path)
    backend = _backend(backends, "sqlite://", clock)
    await backend.set("k", b"v", 60)
    assert (tmp_path / "polysource-cache.db").is_file()
    other = _backend(backends, f"sqlite:///{tmp_path / 'polysource-cache.db'}", clock)
    assert await other.get_many(["k"]) == [b"v"]


async def test_sqlite_relative_path_and_missing_directories(backends, clock, tmp_path, monkeypatch):
    """A relative path is taken from the working directory; missing directories are made."""
    monkeypatch.chdir(tmp_path)
    backend = _backend(backends, "sqlite:///data/cache/l3.db", clock)
    monkeypatch.chdir("/")
    await backend.set("k", b"v", 60)
    assert (tmp_path / "data" / "cache" / "l3.db").is_file()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///:memory:",
        "mysql://user@localhost/db",
        "postgresql://localhost/db?schema=bad-name",
        "postgresql://localhost/db?schema=x;DROP",
        "sqlite:///x.db?purge_interval=soon",
        "sqlite:///x.db?journal_mode=off",
        "not a url",
    ],
)
def test_invalid_urls_are_config_errors(url: str, clock) -> None:
    """In-memory SQLite, other databases and bad options are refused at construction."""
    with pytest.raises(ConfigError):
        SqlBackend(url, BackendContext(clock))


@pytest.mark.parametrize("password", ["pa/ss?w#rd", "pa%2Fss%3Fw%23rd", "hunter2"])
@pytest.mark.parametrize(
    "rest", ["db/app?purge_interval=soon", "db/app?schema=bad-name", "db:port/app"]
)
def test_a_rejected_url_never_shows_its_password(password: str, rest: str, clock) -> None:
    """A URL refused at construction is quoted with its password masked, even one holding an
    unescaped ``/``, ``?`` or ``#``, raw or percent-encoded."""
    with pytest.raises(ConfigError) as caught:
        SqlBackend(f"postgresql://app:{password}@{rest}", BackendContext(clock))
    for shown in (str(caught.value), repr(caught.value)):
        for part in ("pa/ss", "ss?w", "w#rd", "pa%2F", "%3Fw", "hunter2"):
            assert part not in shown, shown


async def test_password_stays_out_of_reprs_and_errors(backends, clock) -> None:
    """The URL's password is masked in the repr and absent from a connection error."""
    backend = _backend(backends, "postgresql://app:hunter2-secret@127.0.0.1:1/db", clock)
    assert "hunter2-secret" not in repr(backend)
    assert "***" in repr(backend)
    with pytest.raises(Exception) as caught:
        await backend.get_many(["k"])
    assert "hunter2-secret" not in str(caught.value)
    assert "hunter2-secret" not in repr(caught.value)


async def test_postgresql_schema_is_created_and_isolates(
    backends, clock, postgresql_url, pg_schema, pg_schema_name
) -> None:
    """``?schema=`` creates the schema on first use; two schemas do not share keys."""
    first = _backend(backends, f"{postgresql_url}?schema={pg_schema}", clock)
    second = _backend(backends, f"{postgresql_url}?schema={pg_schema_name}", clock)
    await first.set("k", b"first", 60)
    assert await second.get_many(["k"]) == [None]
    await second.set("k", b"second", 60)
    assert await first.get_many(["k"]) == [b"first"]
    async with second.engine.connect() as conn:
        tables = await conn.scalar(
            text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": pg_schema_name}
        )
    assert tables == 3


async def test_sqlite_is_in_wal_mode_unless_the_url_says(backends, clock, tmp_path) -> None:
    """WAL by default (readers do not wait for a writer); ``?journal_mode=`` overrides it."""
    wal = _backend(backends, f"sqlite:///{tmp_path / 'wal.db'}", clock)
    plain = _backend(backends, f"sqlite:///{tmp_path / 'plain.db'}?journal_mode=delete", clock)
    for backend, mode in ((wal, "wal"), (plain, "delete")):
        await backend.set("k", b"v", 60)
        async with backend.engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA journal_mode")) == mode


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
async def test_locked_sqlite_file_fails_writes_within_the_timeout(
    backends, clock, tmp_path, journal_mode
) -> None:
    """With another connection in BEGIN EXCLUSIVE, writes fail after about the timeout."""
    path = tmp_path / "locked.db"
    backend = _backend(backends, f"sqlite:///{path}?journal_mode={journal_mode}", clock)
    await backend.set("k", b"v", 60)
    with _locked(path):
        for operation in (
            backend.set("secret-key-7f3a", b"secret-record-9c1e", 60),
            backend.delete(["k"]),
            backend.delete_pattern("*"),
            backend.purge_expired(),
        ):
            started = time.monotonic()
            with pytest.raises(Exception, match="locked") as caught:
                await operation
            assert TIMEOUT * 0.8 <= time.monotonic() - started < TIMEOUT + 1.5
            assert "secret-key-7f3a" not in str(caught.value)
            assert "secret-record-9c1e" not in str(caught.value)
    assert await backend.get_many(["k", "secret-key-7f3a"]) == [b"v", None]


async def test_locked_sqlite_file_fails_reads_within_the_timeout(backends, clock, tmp_path) -> None:
    """In rollback-journal mode the lock stops readers too: a multi-get fails in the timeout.

    (In WAL mode readers pass a writer's lock; see the next test.)
    """
    path = tmp_path / "locked.db"
    backend = _backend(backends, f"sqlite:///{path}?journal_mode=delete", clock)
    await backend.set("k", b"v", 60)
    with _locked(path):
        started = time.monotonic()
        with pytest.raises(Exception, match="locked"):
            await backend.get_many(["k"])
        assert TIMEOUT * 0.8 <= time.monotonic() - started < TIMEOUT + 1.5
    assert await backend.get_many(["k"]) == [b"v"]


async def test_a_reader_is_not_blocked_by_a_writer_in_wal_mode(backends, clock, tmp_path) -> None:
    """In WAL mode another connection's BEGIN EXCLUSIVE does not stop a multi-get."""
    path = tmp_path / "wal.db"
    backend = _backend(backends, f"sqlite:///{path}", clock)
    await backend.set("k", b"v", 60)
    with _locked(path):
        assert await backend.get_many(["k"]) == [b"v"]


async def test_first_use_on_a_locked_file_fails_then_migrates_later(
    backends, clock, tmp_path
) -> None:
    """Creating the tables waits no longer than the timeout, and is retried on the next use."""
    path = tmp_path / "fresh.db"
    sqlite3.connect(path).close()
    backend = _backend(backends, f"sqlite:///{path}", clock)
    with _locked(path):
        started = time.monotonic()
        with pytest.raises(Exception, match="locked"):
            await backend.set("k", b"v", 60)
        assert time.monotonic() - started < TIMEOUT + 1.5
    await backend.set("k", b"v", 60)
    assert await backend.get_many(["k"]) == [b"v"]


async def test_a_caller_giving_up_does_not_cancel_the_migration(backends, clock, tmp_path) -> None:
    """The engine abandoning the first operation leaves the table creation running to the end."""
    path = tmp_path / "slow.db"
    backend = _backend(backends, f"sqlite:///{path}", clock, timeout=2.0)
    with _locked(path):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await backend.set("k", b"v", 60)
        prepare = backend._ready
        assert prepare is not None and not prepare.done()
    await asyncio.wait_for(asyncio.shield(prepare), 5)
    assert backend._is_ready
    await backend.set("k", b"v", 60)
    assert await backend.get_many(["k"]) == [b"v"]


class _Captured(Exception):
    """Raised instead of connecting, once the driver's arguments are recorded."""


async def _driver_arguments(engine: AsyncEngine) -> dict[str, Any]:
    """The keyword arguments ``engine`` hands to ``asyncpg.connect`` (without connecting)."""
    captured: dict[str, Any] = {}

    def capture(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        captured.update(params)
        raise _Captured

    event.listen(engine.sync_engine, "do_connect", capture)
    with pytest.raises(_Captured):
        async with engine.connect():
            pass
    return captured


def _cache_engine(url: str, clock) -> AsyncEngine:
    return SqlBackend(url, BackendContext(clock)).engine


def _audit_engine(url: str, clock) -> AsyncEngine:
    return AuditLog(url, clock=clock).engine


@pytest.fixture(params=[_cache_engine, _audit_engine], ids=["cache", "audit"])
async def engine_for(request, clock, monkeypatch) -> AsyncIterator[Any]:
    """``engine_for(url)``: the engine the cache tier, or the audit log, builds for ``url``."""
    monkeypatch.delenv("PGHOST", raising=False)
    made: list[AsyncEngine] = []

    def make(url: str) -> AsyncEngine:
        made.append(request.param(url, clock))
        return made[-1]

    yield make
    for engine in made:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://db.example.com/x",
        "postgresql://app:secret@10.0.0.7:5432/x?schema=polysource",
        "postgresql:///x?host=db.example.com:5432",
        "postgresql://localhost/x?host=db.example.com:5432",
    ],
)
async def test_a_postgresql_server_on_another_host_is_verified_by_default(engine_for, url) -> None:
    """Without sslmode in the URL, asyncpg gets ssl=True: verify-full against the system CAs."""
    arguments = await _driver_arguments(engine_for(url))
    assert arguments["ssl"] is True


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://localhost/x",
        "postgresql://127.0.0.1:5432/x",
        "postgresql://[::1]:5432/x",
        "postgresql:///x",
        "postgresql:///x?host=/var/run/postgresql",
    ],
)
async def test_a_local_postgresql_server_needs_no_tls(engine_for, url) -> None:
    """A server on this machine (loopback or Unix socket) is left to the driver's default."""
    arguments = await _driver_arguments(engine_for(url))
    assert "ssl" not in arguments


@pytest.mark.parametrize("mode", ["disable", "require", "verify-ca", "verify-full"])
async def test_sslmode_in_the_url_wins(engine_for, mode) -> None:
    """``?sslmode=`` is handed to asyncpg as its ``ssl`` mode, for any host."""
    arguments = await _driver_arguments(engine_for(f"postgresql://db.example.com/x?sslmode={mode}"))
    assert arguments["ssl"] == mode
    assert "sslmode" not in arguments


@pytest.mark.parametrize(
    "query", ["sslmode=sometimes", "sslmode=require&ssl=require", "sslmode=" + "x" * 500]
)
def test_a_bad_sslmode_is_a_config_error(clock, query) -> None:
    """An unknown sslmode, or sslmode with ssl, is refused naming it, with a short prefix."""
    with pytest.raises(ConfigError, match="ssl") as caught:
        SqlBackend(f"postgresql://db.example.com/x?{query}", BackendContext(clock))
    assert len(str(caught.value)) < 200
