"""The orchestrator: lifecycle hooks, routing of fetch through plugins, and bad input."""

from __future__ import annotations

import pytest

from polysource import Orchestrator, hookimpl
from polysource.datasets import QUOTE, Quote
from polysource.errors import (
    AllProvidersFailed,
    InvalidRequest,
    PolysourceError,
    UnknownDataset,
)
from polysource.testing import FakeProvider


async def test_fetch_routes_to_first_provider(make_orchestrator, clock):
    """fetch returns the first provider's answer, typed by the dataset handle."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).answer("AAPL", Quote("AAPL", 190.5))
    orch = await make_orchestrator(a, FakeProvider("b", regions={"US": 2}, clock=clock))
    result = await orch.fetch(QUOTE, " aapl ", region="US")
    assert result.data.price == 190.5
    assert result.source == "a" and result.attempts == 1 and not result.cached
    assert a.calls == [("quote", "AAPL")]


async def test_fetch_fails_over_and_reports_errors(make_orchestrator, clock):
    """A failing provider is skipped; the next answers; the error is kept in the result."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "auth")
    b = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(a, b, providers={"a": {"retry": {"attempts": 1}}})
    result = await orch.fetch("quote", "MSFT", region="US")
    assert result.source == "b"
    assert [e.category for e in result.errors] == ["auth"]


async def test_all_failing_raises_with_every_error(make_orchestrator, clock):
    """When every provider fails, AllProvidersFailed carries each ProviderError."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "not_found")
    b = FakeProvider("b", regions={"US": 2}, clock=clock).fail_always("*", "not_found")
    orch = await make_orchestrator(a, b)
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch("quote", "ZZZZ", region="US")
    assert [e.provider for e in caught.value.errors] == ["a", "b"]
    assert isinstance(caught.value, ExceptionGroup)


async def test_unknown_dataset_lists_known_ones(make_orchestrator):
    """An unknown dataset name raises UnknownDataset listing the known datasets."""
    orch = await make_orchestrator(FakeProvider("a"))
    with pytest.raises(UnknownDataset, match=r"'quotes'.*quote"):
        await orch.fetch("quotes", "AAPL")


@pytest.mark.parametrize("key", ["", "   ", None])
async def test_empty_key_is_invalid_request(make_orchestrator, key):
    """An empty or non-string key is rejected before any provider is asked."""
    fake = FakeProvider("a")
    orch = await make_orchestrator(fake)
    with pytest.raises(InvalidRequest, match="quote"):
        await orch.fetch("quote", key)
    assert fake.calls == []


async def test_private_dataset_requires_tenant(make_orchestrator):
    """A private dataset without a tenant is an invalid request."""
    orch = await make_orchestrator(FakeProvider("bank", datasets={"accounts"}))
    with pytest.raises(InvalidRequest, match="tenant"):
        await orch.fetch("accounts", "default")


async def test_startup_and_shutdown_hooks_run_and_may_be_async():
    """startup/shutdown hooks run (sync or async) and providers are closed."""
    seen = []

    class Life:
        plugin_name = "life"

        @hookimpl
        async def startup(self, orchestrator):
            seen.append(("start", orchestrator.failover_order("quote")))

        @hookimpl
        def shutdown(self, orchestrator):
            seen.append(("stop", None))

    fake = FakeProvider("a")
    async with Orchestrator(plugins=[fake, Life()], entry_points=False, environ={}) as orch:
        assert orch.registry.providers["a"].plugin == "fake:a"
    assert seen == [("start", ("a",)), ("stop", None)]
    assert fake.closed


async def test_fetch_before_start_is_an_error():
    """Using an orchestrator outside 'async with' raises a clear error."""
    orch = Orchestrator(plugins=[FakeProvider("a")], entry_points=False, environ={})
    with pytest.raises(PolysourceError, match="async with"):
        await orch.fetch("quote", "AAPL")


async def test_from_config_reads_toml(tmp_path):
    """from_config builds an orchestrator from a file."""
    path = tmp_path / "polysource.toml"
    path.write_text('region = "US"\n[providers.a]\nenabled = false\n')
    orch = Orchestrator.from_config(
        path, plugins=[FakeProvider("a"), FakeProvider("b")], entry_points=False, environ={}
    )
    async with orch:
        assert orch.failover_order("quote") == ("b",)
