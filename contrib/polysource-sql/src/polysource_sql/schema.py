"""The tables polysource keeps in SQL, and the migrations that create and upgrade them.

Tables:

- ``polysource_cache``: the L3 cache tier, one row per key (``key``, ``record``, ``expires_at``
  in wall-clock seconds since the epoch).
- ``polysource_attempts``: the audit log, one row per provider attempt.
- ``polysource_schema_version``: one row per migration applied.

The `Table` objects below describe the newest schema and are what
queries are built from. `MIGRATIONS` is the ordered history that produces it. Each
migration carries its own DDL (never the tables above, which move on), and only adds: tables,
columns with defaults, indexes. An upgrade never drops or rewrites data.
[`migrate()`][polysource_sql.schema.migrate]
applies the pending ones in one transaction, records each in ``polysource_schema_version``,
and is a no-op once the database is current.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Final

from attrs import frozen
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    false,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from polysource_sql._engine import SQLITE_BEGIN

__all__ = [
    "MIGRATIONS",
    "Migration",
    "attempts_table",
    "cache_table",
    "current_version",
    "metadata",
    "migrate",
    "version_table",
]

metadata: Final = MetaData()
"""The newest schema."""

cache_table: Final = Table(
    "polysource_cache",
    metadata,
    Column("key", Text, primary_key=True),
    Column("record", LargeBinary, nullable=False),
    Column("expires_at", Double, nullable=False),
    Index("ix_polysource_cache_expires_at", "expires_at"),
)
"""The L3 cache: a row is served while ``expires_at`` (epoch seconds) is in the future."""

attempts_table: Final = Table(
    "polysource_attempts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", Double, nullable=False),
    Column("provider", Text, nullable=False),
    Column("target", Text),
    Column("key_hash", Text),
    Column("tenant_hash", Text),
    Column("duration", Double),
    Column("outcome", Text, nullable=False),
    Column("category", Text),
    Column("attempt", Integer),
    Column("failover", Boolean, nullable=False, server_default=false()),
    CheckConstraint("outcome IN ('success', 'failure')", name="ck_polysource_attempts_outcome"),
    Index("ix_polysource_attempts_at", "at"),
    Index("ix_polysource_attempts_provider_at", "provider", "at"),
)
"""The audit log: one row per provider attempt (``target`` is the dataset or operation)."""

version_table: Final = Table(
    "polysource_schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", Double, nullable=False),
)
"""The migrations applied; the schema's version is the largest ``version``."""


@frozen
class Migration:
    """One step of the schema's history.

    Attributes:
        version: Its number: 1, 2, ... in order, without gaps.
        description: What it does, recorded with it.
        apply: Runs its DDL on a synchronous connection inside the migration transaction.
            It must only add (tables, nullable or defaulted columns, indexes).
    """

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_tables(conn: Connection) -> None:
    """The cache table and the attempt log, as first released (a frozen copy, on purpose)."""
    v1 = MetaData()
    Table(
        "polysource_cache",
        v1,
        Column("key", Text, primary_key=True),
        Column("record", LargeBinary, nullable=False),
        Column("expires_at", Double, nullable=False),
        Index("ix_polysource_cache_expires_at", "expires_at"),
    )
    Table(
        "polysource_attempts",
        v1,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("at", Double, nullable=False),
        Column("provider", Text, nullable=False),
        Column("target", Text),
        Column("key_hash", Text),
        Column("tenant_hash", Text),
        Column("duration", Double),
        Column("outcome", Text, nullable=False),
        Column("category", Text),
        Column("attempt", Integer),
        Column("failover", Boolean, nullable=False, server_default=false()),
        CheckConstraint("outcome IN ('success', 'failure')", name="ck_polysource_attempts_outcome"),
        Index("ix_polysource_attempts_at", "at"),
        Index("ix_polysource_attempts_provider_at", "provider", "at"),
    )
    v1.create_all(conn, checkfirst=False)


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "cache table and provider-attempt log", _v1_tables),
)
"""The schema's history, oldest first."""


async def current_version(conn: AsyncConnection) -> int:
    """The version of the schema ``conn`` sees (0 when it has none)."""
    if not await conn.run_sync(lambda sync: sync.dialect.has_table(sync, version_table.name)):
        return 0
    found = await conn.scalar(select(func.max(version_table.c.version)))
    return int(found or 0)


async def migrate(
    engine: AsyncEngine,
    *,
    now: float,
    schema: str | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Apply the pending ``migrations`` in one transaction; returns the resulting version.

    Concurrent callers (other processes) are serialised: SQLite by ``BEGIN IMMEDIATE``,
    PostgreSQL by a transaction-scoped advisory lock. A database newer than ``migrations``
    is left alone (its extra migrations only added). A failing migration rolls back all.

    Args:
        engine: From `polysource_sql._engine.create_engine()`.
        now: Wall-clock time recorded as ``applied_at``.
        schema: PostgreSQL schema to create if missing (the engine's ``search_path``).
        migrations: The history to apply (`MIGRATIONS`; tests pass others).
    """
    _check_order(migrations)
    postgresql = engine.dialect.name == "postgresql"
    async with engine.connect() as conn:
        if not postgresql:
            await conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})  # in place
        async with conn.begin():
            if postgresql:
                await _lock_postgresql(conn, schema)
            version = await current_version(conn)
            pending = [m for m in migrations if m.version > version]
            if not pending:
                return version
            if version == 0:
                if postgresql and schema is not None:
                    await _create_schema(conn, schema)
                await conn.run_sync(lambda sync: version_table.create(sync, checkfirst=True))
            for migration in pending:
                await conn.run_sync(migration.apply)
                await conn.execute(
                    version_table.insert().values(
                        version=migration.version,
                        description=migration.description,
                        applied_at=now,
                    )
                )
            return pending[-1].version


async def _lock_postgresql(conn: AsyncConnection, schema: str | None) -> None:
    """Wait for other processes migrating the same schema (released at commit)."""
    name = schema or "public"
    digest = hashlib.blake2b(f"polysource_sql.migrate:{name}".encode(), digest_size=8).digest()
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


async def _create_schema(conn: AsyncConnection, schema: str) -> None:
    """Create ``schema`` unless it exists (then no database-level privilege is needed)."""
    found = await conn.scalar(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": schema}
    )
    if found is None:
        quoted = conn.dialect.identifier_preparer.quote_identifier(schema)
        await conn.execute(text(f"CREATE SCHEMA {quoted}"))


def _check_order(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, ... in order, not {versions}")
