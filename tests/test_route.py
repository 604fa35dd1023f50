"""Failover order: ranks per region, the global region, config override and the hook."""

from __future__ import annotations

import pytest

from polysource import hookimpl
from polysource.errors import ConfigError, PluginError, UnknownRegion
from polysource.testing import FakeProvider


def _providers():
    return [
        FakeProvider("a", regions={"US": 2, "MX": 1}),
        FakeProvider("b", regions={"US": 1}),
        FakeProvider("c", regions={"global": 5}),
    ]


async def test_ranks_order_providers_per_region_then_global(make_orchestrator):
    """Lower rank first within the region; global providers come after regional ones."""
    orch = await make_orchestrator(*_providers())
    assert orch.failover_order("quote", "US") == ("b", "a", "c")
    assert orch.failover_order("quote", "MX") == ("a", "c")
    assert orch.failover_order("quote", "DE") == ("c",)
    assert orch.failover_order("quote", "global") == ("c",)


async def test_config_order_always_wins(make_orchestrator):
    """A routing entry in config replaces the ranked order for that pair."""
    orch = await make_orchestrator(*_providers(), routing={"quote": {"US": ["c", "a"]}})
    assert orch.failover_order("quote", "US") == ("c", "a")
    assert orch.failover_order("quote", "MX") == ("a", "c")


async def test_config_naming_unknown_provider_is_config_error(make_orchestrator):
    """A misspelled provider in routing fails the start with the key path and nearest name."""
    with pytest.raises(ConfigError, match=r"routing\.quote\.US: unknown provider 'aa'.*'a'"):
        await make_orchestrator(*_providers(), routing={"quote": {"US": ["aa"]}})


async def test_hook_reorders_once_per_pair(make_orchestrator):
    """failover_order may reorder; it is consulted once per (dataset, region)."""
    calls = []

    class Reverse:
        plugin_name = "reverse"

        @hookimpl
        def failover_order(self, dataset, region, providers):
            calls.append((dataset, region))
            return list(reversed(providers))

    orch = await make_orchestrator(*_providers(), Reverse())
    assert orch.failover_order("quote", "US") == ("c", "a", "b")
    assert orch.failover_order("quote", "US") == ("c", "a", "b")
    assert calls == [("quote", "US")]


async def test_hook_cannot_add_providers(make_orchestrator):
    """A failover_order answer naming a provider outside the candidates is a PluginError."""

    class Adder:
        plugin_name = "adder"

        @hookimpl
        def failover_order(self, dataset, region, providers):
            return [*providers, "intruder"]

    orch = await make_orchestrator(*_providers(), Adder())
    with pytest.raises(PluginError, match="intruder"):
        orch.failover_order("quote", "US")


async def test_unknown_region_lists_served_regions(make_orchestrator):
    """No provider for the pair raises UnknownRegion naming the regions that are served."""
    orch = await make_orchestrator(FakeProvider("b", regions={"US": 1}))
    with pytest.raises(UnknownRegion, match=r"'quote' in region 'JP'.*US"):
        orch.failover_order("quote", "JP")


async def test_config_region_override_and_disabled_provider(make_orchestrator):
    """Config may re-rank a provider's regions and disable a provider."""
    orch = await make_orchestrator(
        *_providers(),
        providers={"a": {"regions": {"US": 0}}, "c": {"enabled": False}},
    )
    assert orch.failover_order("quote", "US") == ("a", "b")
