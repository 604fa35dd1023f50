"""The documentation's code runs: the tutorial plugin passes the conformance kit."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from aioresponses import aioresponses

from polysource import Orchestrator, load_config
from polysource.testing import ErrorCase, FetchCase, ProviderConformance

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_example():
    path = DOCS / "examples" / "polysource_coingecko.py"
    spec = importlib.util.spec_from_file_location("polysource_coingecko", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["polysource_coingecko"] = module
    spec.loader.exec_module(module)
    return module


coingecko = _load_example()
PRICE_URL = re.compile(r"^https://api\.coingecko\.com/api/v3/simple/price\?.*$")


class TestTutorialPluginConformance(ProviderConformance):
    """The tutorial's provider passes the kit with recorded payloads, as the how-to shows."""

    factory = coingecko.CoinGeckoProvider
    fetch_cases = [FetchCase("quote", "btc-usd"), FetchCase("quote", "ETH-USD")]
    error_cases = [ErrorCase("quote", "DOGE-EUR", "invalid_request")]

    @pytest.fixture(autouse=True)
    def recorded(self):
        with aioresponses() as mocked:
            body = {"bitcoin": {"usd": 67000.5}, "ethereum": {"usd": 3500.25}}
            mocked.get(PRICE_URL, payload=body, repeat=True)
            yield mocked


async def test_tutorial_plugin_serves_fetch_through_orchestrator():
    """The tutorial plugin, registered as a plugin module, answers orch.fetch."""
    with aioresponses() as mocked:
        mocked.get(PRICE_URL, payload={"bitcoin": {"usd": 1.5}}, repeat=True)
        async with Orchestrator(plugins=[coingecko], entry_points=False, environ={}) as orch:
            result = await orch.fetch("quote", "btc-usd")
    assert (result.data.price, result.source) == (1.5, "coingecko")


async def test_tutorial_plugin_maps_server_errors():
    """A 503 is provider_down and a 429 is rate_limit, as the tutorial says."""
    with aioresponses() as mocked:
        mocked.get(PRICE_URL, status=503)
        mocked.get(PRICE_URL, status=429)
        config = load_config(
            environ={}, overrides={"providers": {"coingecko": {"retry": {"attempts": 1}}}}
        )
        orch = Orchestrator(config, plugins=[coingecko], entry_points=False, environ={})
        async with orch:
            for expected in ("provider_down", "rate_limit"):
                with pytest.raises(Exception) as caught:
                    await orch.fetch("quote", "btc-usd")
                assert caught.value.errors[0].category == expected


async def test_tutorial_plugin_lets_another_provider_serve_keys_it_does_not_know():
    """Installed beside a stock-quote provider, the tutorial plugin fails over, never stops."""
    from polysource.testing import FakeProvider

    stocks = FakeProvider("stocks", datasets={"quote"}, regions={"global": 90})
    with aioresponses() as mocked:
        mocked.get(PRICE_URL, payload={"bitcoin": {"usd": 2.5}}, repeat=True)
        plugins = [coingecko, stocks]
        async with Orchestrator(plugins=plugins, entry_points=False, environ={}) as orch:
            assert orch.failover_order("quote", "US") == ("coingecko", "stocks")
            stock = await orch.fetch("quote", "AAPL", region="US")
            crypto = await orch.fetch("quote", "btc-usd", region="US")
    assert (stock.source, stock.errors[0].provider) == ("stocks", "coingecko")
    assert (crypto.source, crypto.data.price) == ("coingecko", 2.5)


def _first_python_block(page: Path) -> str:
    match = re.search(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    assert match is not None, f"{page} has no Python block"
    return match.group(1)


def test_testing_howto_recipe_passes_outside_the_workspace(tmp_path):
    """The testing how-to's conformance recipe passes as published, without this repo's conftest."""
    import shutil
    import subprocess

    shutil.copy(DOCS / "examples" / "polysource_coingecko.py", tmp_path)
    recipe = _first_python_block(DOCS / "howto" / "testing.md")
    (tmp_path / "test_recipe.py").write_text(recipe, encoding="utf-8")
    run = subprocess.run(  # the recipe must pass in a clean pytest session, as a user runs it
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_recipe.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
