"""End to end: the real Orchestrator, the WZStats plugin and its emulator."""

from __future__ import annotations

from typing import Any

import pytest

import polysource_wzstats
from polysource.config import load_config
from polysource.datasets import WEAPON_STATS
from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource.errors import AllProvidersFailed, ErrorCategory
from polysource.orchestrator import Orchestrator
from polysource_wzstats.client import TIER_LISTS_PATH
from polysource_wzstats.emulator import CATALOGUE, create_app, set_data

FORTY = [weapon.id for weapon in CATALOGUE if not weapon.id.endswith(("-kit", "-requiem"))][:40]


def _orchestrator(url: str, **provider: Any) -> Orchestrator:
    overrides = {"providers": {"wzstats": {"base_url": url, **provider}}}
    config = load_config(environ={}, overrides=overrides)
    return Orchestrator(config, plugins=[polysource_wzstats], entry_points=False, environ={})


async def test_fetch_stats_and_meta_through_the_orchestrator() -> None:
    """Single fetches of both datasets answer from wzstats with one catalogue request."""
    app = create_app(Faults(seed=9))
    async with serve(app) as url, _orchestrator(url) as orch:
        stats = await orch.fetch("weapon_stats", "m4")
        meta = await orch.fetch("weapon_meta", "M4")
        again = await orch.fetch("weapon_meta", "m4")
    assert stats.source == "wzstats" and stats.data.name == "M4" and stats.data.game == "mw2"
    assert stats.data.category == "Assault Rifles" and stats.data.damage is None
    assert meta.data.weapon_id == "m4" and meta.data.tiers
    assert meta.data.win_rate is None and meta.data.pick_rate is None
    assert again.cached
    assert app[EMULATOR_STATE].requests == {TIER_LISTS_PATH: 1}


@pytest.mark.parametrize("dataset", ["weapon_stats", "weapon_meta"])
async def test_fetch_many_of_forty_weapons_is_one_request(dataset: str) -> None:
    """Forty keys reach the emulator as one catalogue request (the provider cache is off)."""
    assert len(FORTY) == 40
    app = create_app(Faults(seed=9))
    async with serve(app) as url, _orchestrator(url, options={"catalogue_ttl": 0}) as orch:
        batch = await orch.fetch_many(dataset, FORTY)
    assert set(batch.results) == set(FORTY) and not batch.errors
    assert batch.summary.successful == 40 and batch.summary.fresh == 40
    assert all(result.source == "wzstats" for result in batch.results.values())
    assert app[EMULATOR_STATE].requests == {TIER_LISTS_PATH: 1}


async def test_fetch_merged_keeps_unpublished_fields_empty() -> None:
    """A merged weapon_stats answer from wzstats alone leaves ballistics None."""
    async with serve(create_app(Faults(seed=9))) as url, _orchestrator(url) as orch:
        merged = await orch.fetch_merged(WEAPON_STATS, "striker", min_providers=1)
    assert merged.sources == ("wzstats",)
    assert merged.data.name == "Striker" and merged.data.category == "SMGs"
    assert merged.data.damage is None and merged.data.fire_rate is None


async def test_unknown_weapon_fails_with_not_found() -> None:
    """A weapon the catalogue lacks fails every provider with not_found."""
    async with serve(create_app()) as url, _orchestrator(url) as orch:
        with pytest.raises(AllProvidersFailed) as caught:
            await orch.fetch("weapon_meta", "ray-gun")
    assert [error.category for error in caught.value.errors] == [ErrorCategory.NOT_FOUND]


async def test_changed_site_shape_fails_cleanly() -> None:
    """A redesigned answer is invalid_response through the engine, never a crash."""
    app = create_app()
    async with serve(app) as url, _orchestrator(url) as orch:
        set_data(app, shape="renamed_weapons")
        with pytest.raises(AllProvidersFailed) as caught:
            await orch.fetch("weapon_stats", "m4")
    assert {error.category for error in caught.value.errors} == {ErrorCategory.INVALID_RESPONSE}
