"""From a polysource URL to a SQLAlchemy async engine: the one seam to the database drivers.

``sqlite://`` and ``sqlite:///path.db`` open a file through aiosqlite;
``postgresql://user@host:port/db?schema=name`` opens PostgreSQL through asyncpg. The engine
never formats statement parameters into errors or logs (``hide_parameters``): they hold
cache keys and records.

TLS: a PostgreSQL server on another host is reached over TLS with its certificate and host
name verified against the system's CAs (libpq's ``verify-full``) unless the URL's ``sslmode``
(or asyncpg's ``ssl``) says otherwise. A server on this machine (``localhost``, a loopback
address, a Unix socket) is left to the driver's default, which falls back to plain text.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from attrs import frozen
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from polysource.errors import ConfigError
from polysource.redaction import mask_url
from polysource_sql.errors import NotWritable

__all__ = [
    "SQLITE_BEGIN",
    "InvalidUrl",
    "Target",
    "autocommit",
    "check_writable",
    "create_engine",
    "parse_url",
    "statement_bound",
]

Dialect = Literal["sqlite", "postgresql"]

SQLITE_BEGIN: Final = "polysource_sqlite_begin"
"""Execution option naming the SQLite ``BEGIN`` mode of a transaction (``IMMEDIATE``...).

``""`` begins none: each statement then commits on its own, which saves round trips for reads.
"""

_STATEMENT_TIMEOUT_FACTOR: Final = 40  # a statement may take this many operation timeouts
_STATEMENT_TIMEOUT_FLOOR: Final = 10.0
_SCHEMA_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_JOURNAL_MODES: Final = frozenset({"wal", "delete", "truncate", "persist", "memory"})
_SSL_MODES: Final = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
_LOCAL_HOSTS: Final = frozenset({"localhost", "localhost.localdomain"})
_DRIVERS: Final[Mapping[str, Dialect]] = {
    "sqlite": "sqlite",
    "sqlite+aiosqlite": "sqlite",
    "postgresql": "postgresql",
    "postgresql+asyncpg": "postgresql",
}


class InvalidUrl(ConfigError, ValueError):
    """A database URL polysource cannot use (a ``ValueError`` too, as factories raise)."""


@frozen
class Target:
    """A parsed database URL.

    Attributes:
        url: The SQLAlchemy URL with its async driver and without polysource's own options.
        dialect: ``sqlite`` or ``postgresql``.
        schema: PostgreSQL schema holding the tables (``None``: the connection's default).
        journal_mode: SQLite journal mode (``wal`` unless the URL says otherwise).
        purge_interval: Seconds between purges of expired cache rows, if the URL sets it.
        tls: PostgreSQL: asyncpg's ``ssl`` argument: ``True`` (verify the server against the
            system's CAs, for a server on another host), the URL's ``sslmode``, or ``None``
            (the driver's default: a local server, or ``ssl`` given in the URL itself).
    """

    url: URL
    dialect: Dialect
    schema: str | None = None
    journal_mode: str = "wal"
    purge_interval: float | None = None
    tls: bool | str | None = None

    @property
    def display(self) -> str:
        """The URL with its password masked, for reprs and messages."""
        return self.url.render_as_string(hide_password=True)

    @property
    def shm_file(self) -> str | None:
        """SQLite's shared-memory index beside the database file (``None`` for PostgreSQL)."""
        return f"{self.url.database}-shm" if self.dialect == "sqlite" else None


def check_writable(target: Target) -> None:
    """Refuse to use a SQLite database whose ``-shm`` file cannot be written.

    SQLite writes that file through a shared memory map, even to read in WAL mode; once the
    file is read-only (an immutable attribute, a read-only mount) such a write kills the
    process with ``SIGBUS`` instead of failing. One ``access()`` call before each use turns
    that into an error, which detaches the tier. (The file turning read-only between the
    check and the statement is not covered.)

    Raises:
        NotWritable: The file exists and this process may not write it.
    """
    path = target.shm_file
    if path is not None and not os.access(path, os.W_OK) and os.path.exists(path):
        raise NotWritable(
            f"{target.display!r}: {os.path.basename(path)!r} is not writable; "
            "the database is not used until it is"
        )


def parse_url(url: str, *, default_file: str) -> Target:
    """Parse ``url``; ``sqlite://`` without a path means the file ``default_file``.

    Raises:
        InvalidUrl: A ``ConfigError``: the URL is malformed, names another database, names an
            in-memory SQLite database (each process would see its own) or has a bad option.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise InvalidUrl(f"{mask_url(url)!r} is not a database URL") from None
    dialect = _DRIVERS.get(parsed.drivername)
    if dialect is None:
        raise InvalidUrl(
            f"{parsed.render_as_string(hide_password=True)!r}: the SQL cache and audit log "
            "speak sqlite:// and postgresql:// only"
        )
    query = dict(parsed.query)
    purge_interval = _float_option(query.pop("purge_interval", None), "purge_interval", url)
    if dialect == "sqlite":
        return _sqlite(parsed, query, default_file, purge_interval)
    schema = _one(query.pop("schema", None))
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise InvalidUrl(f"schema {schema!r} is not a plain identifier (letters, digits, _)")
    tls = _tls(parsed, query)
    parsed = parsed.set(drivername="postgresql+asyncpg", query=query)
    return Target(parsed, "postgresql", schema=schema, purge_interval=purge_interval, tls=tls)


def _tls(parsed: URL, query: dict[str, Any]) -> bool | str | None:
    """asyncpg's ``ssl`` for the URL: its ``sslmode`` (taken out of ``query``), else
    verification for a server on another host, else ``None`` (the driver's default)."""
    mode = _one(query.pop("sslmode", None))
    if mode is not None:
        if "ssl" in query:
            raise InvalidUrl("give sslmode or ssl in a PostgreSQL URL, not both")
        if mode not in _SSL_MODES:
            raise InvalidUrl(f"sslmode {mode[:20]!r} is not one of {', '.join(sorted(_SSL_MODES))}")
        return mode
    if "ssl" in query or _is_local(parsed):
        return None
    return True  # asyncpg: the default SSL context, verify-full against the system's CAs


def _is_local(parsed: URL) -> bool:
    """Whether every host the URL names (or ``PGHOST``, without one) is on this machine."""
    hosts = [parsed.host] if parsed.host else []
    hosts += [_host_of(entry) for entry in _all(parsed.query.get("host"))]  # ?host=h:port
    if not hosts:
        hosts = [h for h in os.environ.get("PGHOST", "").split(",") if h]
    return all(_is_local_host(host) for host in hosts)


def _host_of(entry: str) -> str:
    """The host of a ``host[:port]`` query entry (``[v6]:port``, a bare v6 address, a path)."""
    if entry.startswith("["):
        return entry[1 : entry.find("]")]
    if entry.count(":") == 1 and not entry.startswith("/"):
        return entry.partition(":")[0]
    return entry


def _is_local_host(host: str) -> bool:
    if host.startswith(("/", "@")) or host.lower() in _LOCAL_HOSTS:  # a Unix socket, or this host
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _sqlite(
    parsed: URL, query: dict[str, Any], default_file: str, purge_interval: float | None
) -> Target:
    journal_mode = (_one(query.pop("journal_mode", None)) or "wal").lower()
    if journal_mode not in _JOURNAL_MODES:
        raise InvalidUrl(
            f"journal_mode {journal_mode!r} is not one of {', '.join(sorted(_JOURNAL_MODES))}"
        )
    database = parsed.database or default_file
    if database == ":memory:" or database.startswith("file::memory:"):
        raise InvalidUrl(
            "an in-memory SQLite database is private to one connection of one process; "
            "give a file (sqlite:///path.db) or use memory:// for a per-process cache"
        )
    database = os.path.abspath(database)
    parsed = parsed.set(drivername="sqlite+aiosqlite", database=database, query=query)
    return Target(parsed, "sqlite", journal_mode=journal_mode, purge_interval=purge_interval)


def create_engine(target: Target, *, timeout: float) -> AsyncEngine:
    """An engine for ``target`` whose lock waits give up after about ``timeout`` seconds.

    SQLite: the busy timeout is ``timeout``, the journal mode is set on each connection, and
    transactions are begun by polysource (the driver's implicit ``BEGIN`` leaves DDL outside
    the transaction); the execution option
    [`SQLITE_BEGIN`][polysource_sql._engine.SQLITE_BEGIN] picks ``BEGIN IMMEDIATE``.
    PostgreSQL: ``lock_timeout`` is ``timeout``, ``search_path`` is the URL's ``schema``,
    ``ssl`` is [`Target.tls`][polysource_sql._engine.Target.tls], and
    asyncpg gives up on a statement (cancelling it on the server) after
    [`statement_bound()`][polysource_sql._engine.statement_bound] seconds, so no statement holds a
    connection for ever.
    """
    if target.dialect == "sqlite":
        engine = create_async_engine(
            target.url, connect_args={"timeout": timeout}, hide_parameters=True
        )
        _configure_sqlite(engine, target.journal_mode)
        return engine
    settings = {
        "application_name": "polysource",
        "lock_timeout": f"{max(1, math.ceil(timeout * 1000))}ms",
    }
    if target.schema is not None:
        settings["search_path"] = target.schema
    connect_args: dict[str, Any] = {
        "server_settings": settings,
        "command_timeout": statement_bound(timeout),
    }
    if target.tls is not None:
        connect_args["ssl"] = target.tls
    return create_async_engine(target.url, connect_args=connect_args, hide_parameters=True)


def statement_bound(timeout: float) -> float:
    """Seconds one statement may run in the background (a purge, a statement whose caller
    gave up) when each operation's timeout is ``timeout``: 40 of them, at least 10 s."""
    return max(_STATEMENT_TIMEOUT_FLOOR, timeout * _STATEMENT_TIMEOUT_FACTOR)


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """A view of ``engine`` (same pool) for work of one statement, which needs no transaction.

    PostgreSQL runs it in autocommit, SQLite without ``BEGIN``: one round trip instead of
    three (begin, statement, commit or rollback). Each statement is still atomic.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{SQLITE_BEGIN: ""})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _configure_sqlite(engine: AsyncEngine, journal_mode: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # polysource begins its own transactions
        cursor = dbapi_connection.cursor()
        try:
            if journal_mode == "wal":  # WAL with NORMAL stays consistent on power loss
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() != journal_mode:
                _set_journal_mode(dbapi_connection, cursor, journal_mode)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        if mode:  # "": statements run on their own (a single SELECT needs no transaction)
            connection.exec_driver_sql(f"BEGIN {mode}")


def _set_journal_mode(dbapi_connection: Any, cursor: Any, journal_mode: str) -> None:
    """Switch the file's journal mode, unless another connection holds it right now.

    The switch needs the file to itself and SQLite does not wait (no busy handler) for it;
    the mode is stored in the file, so the next connection tries again if this one cannot.
    """
    try:
        cursor.execute(f"PRAGMA journal_mode={journal_mode}")
    except dbapi_connection.dbapi.OperationalError as exc:
        if "locked" not in str(exc):
            raise


def _all(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


def _one(value: str | tuple[str, ...] | None) -> str | None:
    if isinstance(value, tuple):
        return value[-1] if value else None
    return value


def _float_option(value: str | tuple[str, ...] | None, name: str, url: str) -> float | None:
    text = _one(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise InvalidUrl(f"{name}={text!r} in {mask_url(url)!r} is not a number of seconds >= 0")
    return number
