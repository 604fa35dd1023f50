"""Through a real orchestrator: the SQL tier fills on a miss and serves another process."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import polysource_sql
from polysource.config import load_config
from polysource.datasets import QUOTE
from polysource.errors import ConfigError
from polysource.orchestrator import Orchestrator
from polysource.testing import FakeProvider
from polysource_sql.cache import SqlBackend
from polysource_sql.schema import cache_table


def _orchestrator(url: str, provider: FakeProvider) -> Orchestrator:
    config = load_config(
        environ={}, overrides={"cache": {"tiers": ["memory://", url], "tier_timeout": 5.0}}
    )
    return Orchestrator(config, plugins=[provider, polysource_sql], entry_points=False, environ={})


async def test_a_fetch_fills_the_tier_and_a_fresh_process_reads_it(
    database_url, make_engine, eventually
) -> None:
    """The second orchestrator (empty memory) answers from SQL without calling its provider."""
    engine = make_engine()

    async def written() -> bool:
        async with engine.connect() as conn:
            return bool((await conn.scalars(select(cache_table.c.key))).all())

    first = FakeProvider("alpha", regions={"US": 1})
    async with _orchestrator(database_url, first) as orch:
        result = await orch.fetch(QUOTE, "AAPL", region="US")
        assert result.source == "alpha" and not result.cached
        assert [type(t.backend) for t in orch._engine.tiers.tiers] == [SqlBackend]
        await eventually(written)  # the write-through runs in the background
    second = FakeProvider("alpha", regions={"US": 1})
    async with _orchestrator(database_url, second) as orch:
        again = await orch.fetch(QUOTE, "AAPL", region="US")
    assert again.cached and again.data == result.data
    assert second.call_count() == 0


async def test_a_bad_sql_url_is_a_config_error_naming_the_tier() -> None:
    """An unusable URL in [cache] tiers fails start-up with the tier's position."""
    orch = _orchestrator("sqlite:///:memory:", FakeProvider("alpha"))
    with pytest.raises(ConfigError, match=r"cache\.tiers\[1\]"):
        await orch.start()
    await orch.close()
