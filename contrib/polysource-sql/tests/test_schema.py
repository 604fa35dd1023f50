"""Migrations: the newest schema from nothing, idempotence, upgrades that keep every row."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Connection, func, insert, inspect, select, text

from polysource_sql._engine import parse_url
from polysource_sql.schema import (
    MIGRATIONS,
    Migration,
    attempts_table,
    cache_table,
    current_version,
    metadata,
    migrate,
    version_table,
)

NOW = 1_767_225_600.0


def _add_region_column(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE polysource_attempts ADD COLUMN region TEXT"))


NEXT = Migration(len(MIGRATIONS) + 1, "attempts: region", _add_region_column)
"""A plausible next release, to upgrade to."""


def _schema(url: str) -> str | None:
    return parse_url(url, default_file="x.db").schema


async def _count(engine, table) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def _columns(engine, table: str) -> list[str]:
    async with engine.connect() as conn:
        found = await conn.run_sync(lambda sync: inspect(sync).get_columns(table))
    return [column["name"] for column in found]


async def _seed(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(cache_table),
            [{"key": f"k{i}", "record": b"r", "expires_at": NOW} for i in range(5)],
        )
        await conn.execute(
            insert(attempts_table),
            [
                {"at": NOW, "provider": "tiingo", "outcome": "success", "duration": 0.1 * i}
                for i in range(7)
            ],
        )


async def test_migrating_an_empty_database_gives_the_newest_schema(make_engine, database_url):
    """From nothing, migrate creates every table with the columns the code queries."""
    engine = make_engine()
    assert await migrate(engine, now=NOW, schema=_schema(database_url)) == len(MIGRATIONS)
    for table in metadata.sorted_tables:
        assert await _columns(engine, table.name) == [c.name for c in table.columns]
    async with engine.connect() as conn:
        assert await current_version(conn) == len(MIGRATIONS)
        indexes = await conn.run_sync(lambda s: inspect(s).get_indexes("polysource_attempts"))
    assert {i["name"] for i in indexes} == {i.name for i in attempts_table.indexes}


async def test_migrating_twice_is_a_no_op(make_engine, database_url, statements):
    """A second migrate changes nothing and records nothing."""
    engine = make_engine()
    await migrate(engine, now=NOW, schema=_schema(database_url))
    with statements(engine) as seen:
        assert await migrate(engine, now=NOW + 1, schema=_schema(database_url)) == len(MIGRATIONS)
    assert not seen.starting("CREATE", "ALTER", "INSERT", "DROP", "DELETE")
    assert await _count(engine, version_table) == len(MIGRATIONS)


async def test_upgrading_an_older_version_keeps_its_rows(make_engine, database_url, statements):
    """Rows written under the older version are all there, unchanged, after the upgrade."""
    engine = make_engine()
    schema = _schema(database_url)
    await migrate(engine, now=NOW, schema=schema)
    await _seed(engine)
    async with engine.connect() as conn:
        before = (await conn.execute(select(attempts_table).order_by(attempts_table.c.id))).all()
    assert await migrate(engine, now=NOW, schema=schema, migrations=(*MIGRATIONS, NEXT)) == 2
    assert await _count(engine, cache_table) == 5
    async with engine.connect() as conn:
        after = (await conn.execute(text("SELECT * FROM polysource_attempts ORDER BY id"))).all()
        assert await current_version(conn) == NEXT.version
    assert [tuple(row) for row in after] == [(*row, None) for row in before]
    with statements(engine) as seen:
        await migrate(engine, now=NOW, schema=schema, migrations=(*MIGRATIONS, NEXT))
    assert not seen.starting("ALTER", "CREATE")


@pytest.mark.parametrize("start", range(1, len(MIGRATIONS) + 1))
async def test_every_release_upgrades_to_the_newest_without_losing_rows(
    make_engine, database_url, start
):
    """From each released version, upgrading to the newest keeps the rows written before."""
    engine = make_engine()
    schema = _schema(database_url)
    await migrate(engine, now=NOW, schema=schema, migrations=MIGRATIONS[:start])
    await _seed(engine)
    await migrate(engine, now=NOW, schema=schema)
    assert (await _count(engine, cache_table), await _count(engine, attempts_table)) == (5, 7)


async def test_a_failing_migration_rolls_back_entirely(make_engine, database_url):
    """A migration that fails half-way leaves neither its DDL nor a version row."""

    def half_done(conn: Connection) -> None:
        _add_region_column(conn)
        raise RuntimeError("boom")

    engine = make_engine()
    schema = _schema(database_url)
    await migrate(engine, now=NOW, schema=schema)
    await _seed(engine)
    with pytest.raises(RuntimeError, match="boom"):
        await migrate(
            engine,
            now=NOW,
            schema=schema,
            migrations=(*MIGRATIONS, Migration(NEXT.version, "x", half_done)),
        )
    assert "region" not in await _columns(engine, "polysource_attempts")
    async with engine.connect() as conn:
        assert await current_version(conn) == len(MIGRATIONS)
    assert await _count(engine, attempts_table) == 7


async def test_a_newer_database_is_left_alone(make_engine, database_url, statements):
    """Code that knows fewer migrations than the database has applied changes nothing."""
    engine = make_engine()
    schema = _schema(database_url)
    await migrate(engine, now=NOW, schema=schema, migrations=(*MIGRATIONS, NEXT))
    with statements(engine) as seen:
        assert await migrate(engine, now=NOW, schema=schema) == NEXT.version
    assert not seen.starting("CREATE", "ALTER", "INSERT", "DROP")


async def test_concurrent_migrations_apply_once(make_engine, database_url):
    """Two processes migrating the same empty database at once apply each migration once."""
    schema = _schema(database_url)
    first, second = make_engine(timeout=10), make_engine(timeout=10)
    versions = await asyncio.gather(
        migrate(first, now=NOW, schema=schema), migrate(second, now=NOW, schema=schema)
    )
    assert versions == [len(MIGRATIONS)] * 2
    assert await _count(first, version_table) == len(MIGRATIONS)


def test_migrations_are_numbered_in_order() -> None:
    """The shipped history counts 1, 2, ...; a gap is refused before anything runs."""
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    with pytest.raises(ValueError, match="numbered"):
        asyncio.run(migrate(None, now=NOW, migrations=(Migration(2, "gap", _add_region_column),)))  # type: ignore[arg-type]
