"""Composite datasets: parts fetched in parallel, each with its own failover and cache."""

from __future__ import annotations

import pytest

from polysource.datasets import WEAPON_PROFILE, WeaponMeta, WeaponStats
from polysource.errors import AllProvidersFailed, InvalidRequest
from polysource.testing import FakeProvider


def _sources(clock, *, stats_latency=0.0, meta_latency=0.0):
    stats = FakeProvider("armory", datasets={"weapon_stats"}, clock=clock, latency=stats_latency)
    stats.answer("m4", WeaponStats("m4", "M4", game="mw2", category="Assault Rifles"))
    meta = FakeProvider("tiers", datasets={"weapon_meta"}, clock=clock, latency=meta_latency)
    meta.answer("m4", WeaponMeta("m4", {"alMazrah": "B"}, name="M4"))
    return stats, meta


async def test_profile_combines_parts_fetched_in_parallel(make_orchestrator, clock):
    """Both parts are asked at once: the profile takes the longer latency, not the sum."""
    stats, meta = _sources(clock, stats_latency=2.0, meta_latency=3.0)
    orch = await make_orchestrator(stats, meta)
    profile = await clock.run(orch.fetch_composite(WEAPON_PROFILE, " M4 "))
    assert clock.monotonic() == pytest.approx(1003.0)
    assert profile.data.stats.category == "Assault Rifles"
    assert profile.data.meta.tiers == {"alMazrah": "B"}
    assert (profile.succeeded, profile.failed) == (2, 0)
    assert profile.results["stats"].source == "armory"


async def test_partial_failure_returns_what_succeeded(make_orchestrator, clock):
    """A failing part leaves its field empty and its error in the result."""
    stats, meta = _sources(clock)
    meta.fail_always("m4", "provider_down")
    orch = await make_orchestrator(stats, meta, providers={"tiers": {"retry": {"attempts": 1}}})
    profile = await orch.fetch_composite("weapon_profile", "m4")
    assert profile.data.stats is not None and profile.data.meta is None
    assert (profile.succeeded, profile.failed) == (1, 1)
    assert isinstance(profile.errors["meta"], AllProvidersFailed)


async def test_min_parts_and_fail_fast(make_orchestrator, clock):
    """min_parts 2 with one part down raises; fail_fast raises at the first failure."""
    stats, meta = _sources(clock)
    meta.fail_always("m4", "provider_down")
    orch = await make_orchestrator(stats, meta, providers={"tiers": {"retry": {"attempts": 1}}})
    with pytest.raises(AllProvidersFailed, match="1 of 2 parts"):
        await orch.fetch_composite(WEAPON_PROFILE, "m4", min_parts=2)
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch_composite(WEAPON_PROFILE, "m4", fail_fast=True)
    assert caught.value.errors[0].provider == "tiers"


async def test_some_parts_only_and_each_part_cached(make_orchestrator, clock):
    """A meta-only profile asks one source; parts are cached like single fetches."""
    stats, meta = _sources(clock)
    orch = await make_orchestrator(stats, meta)
    only_meta = await orch.fetch_composite(WEAPON_PROFILE, "m4", parts=["meta"])
    assert only_meta.data.stats is None and only_meta.data.meta is not None
    assert stats.call_count() == 0
    await orch.fetch_composite(WEAPON_PROFILE, "m4")
    again = await orch.fetch_composite(WEAPON_PROFILE, "m4")
    assert again.results["meta"].cached and again.results["stats"].cached
    assert (meta.call_count(), stats.call_count()) == (1, 1)


async def test_composite_bad_input(make_orchestrator, clock):
    """Unknown parts, bad min_parts, and fetch of a composite are clear errors."""
    stats, meta = _sources(clock)
    orch = await make_orchestrator(stats, meta)
    with pytest.raises(InvalidRequest, match="stats, meta"):
        await orch.fetch_composite(WEAPON_PROFILE, "m4", parts=["ballistics"])
    with pytest.raises(InvalidRequest, match="min_parts"):
        await orch.fetch_composite(WEAPON_PROFILE, "m4", min_parts=3)
    with pytest.raises(InvalidRequest, match="fetch_composite"):
        await orch.fetch(WEAPON_PROFILE, "m4")
    with pytest.raises(InvalidRequest, match="not composite"):
        await orch.fetch_composite("weapon_stats", "m4")
