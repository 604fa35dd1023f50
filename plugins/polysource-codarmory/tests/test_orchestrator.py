"""The CODArmory plugin through the real engine, against its emulator on loopback."""

from __future__ import annotations

import pytest

import polysource_codarmory
from polysource import Orchestrator, load_config
from polysource.datasets import WEAPON_STATS, WeaponStats
from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource.errors import AllProvidersFailed
from polysource_codarmory.emulator import DATA, WEAPONS, create_app
from polysource_codarmory.mapping import CATALOGUE_FILES, WEAPONS_FILE

PREFIX = "/tzurbaev/codarmory.com/main/src/database/"


@pytest.fixture
async def armory():
    """The emulator served and an orchestrator whose codarmory provider points at it."""
    app = create_app(Faults(seed=2))
    async with serve(app) as url:
        config = load_config(environ={}, overrides={"providers": {"codarmory": {"base_url": url}}})
        orch = Orchestrator(config, plugins=[polysource_codarmory], entry_points=False, environ={})
        async with orch:
            yield orch, app


def _reads(app, file: str = WEAPONS_FILE) -> int:
    return app[EMULATOR_STATE].requests[PREFIX + file]


async def test_fetch_then_fetch_many_is_one_catalogue_read(armory) -> None:
    """One fetch, then 40 keys in one batch: one more catalogue read, answered by 304s."""
    orch, app = armory
    single = await orch.fetch("weapon_stats", "M4")
    assert single.source == "codarmory" and isinstance(single.data, WeaponStats)
    assert single.data.weapon_id == "m4" and single.data.category == "Assault Rifles"
    assert [_reads(app, f) for f in CATALOGUE_FILES] == [1, 1, 1, 1]

    keys = [weapon.slug for weapon in WEAPONS[:40]]
    batch = await orch.fetch_many("weapon_stats", keys)
    assert set(batch.results) == set(keys)
    assert batch.summary.failed == 0
    assert batch.results["m4"].cached  # served from the engine's cache
    assert batch.results["kastov-762"].data.name == "Kastov 762"
    assert [_reads(app, f) for f in CATALOGUE_FILES] == [2, 2, 2, 2]  # one batch read
    assert app[DATA].not_modified == dict.fromkeys(CATALOGUE_FILES, 1)


async def test_typed_handle_and_unknown_slug(armory) -> None:
    """``fetch(WEAPON_STATS, ...)`` is typed; an unknown slug fails as not_found."""
    orch, _ = armory
    result = await orch.fetch(WEAPON_STATS, "lockwood-680")
    assert result.data.game == "mw3" and result.data.damage is None
    with pytest.raises(AllProvidersFailed) as info:
        await orch.fetch(WEAPON_STATS, "not-a-gun")
    assert [e.category for e in info.value.errors] == ["not_found"]


async def test_batch_with_unknown_slugs_fails_only_those(armory) -> None:
    """In a batch, unknown slugs fail on their own; the others are answered."""
    orch, app = armory
    batch = await orch.fetch_many(WEAPON_STATS, ["xm4", "gpr-91", "not-a-gun"])
    assert batch.results["xm4"].data.name == "XM4"
    assert batch.results["gpr-91"].data.game == "bo6"
    assert "not-a-gun" not in batch.results
    error = batch.errors["not-a-gun"]
    assert isinstance(error, AllProvidersFailed)
    assert [e.category for e in error.errors] == ["not_found"]
    assert batch.summary.failed == 1
    assert _reads(app) == 1
