"""Plugin discovery: entry points, failure isolation, blocking, duplicates, strict mode."""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

import polysource_redis
from polysource import Orchestrator, ProviderInfo, hookimpl, load_config
from polysource.config import Secret
from polysource.errors import ConfigError, PluginError
from polysource.plugins import PluginManager
from polysource.testing import FakeCacheBackends, FakeProvider


def _install(tmp_path: Path, dist: str, version: str, entry: str, module: str, source: str) -> None:
    """Write a real importable module and a *.dist-info with an entry point into tmp_path."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    info = tmp_path / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[polysource]\n{entry} = {module}\n")


GOOD = """
from polysource import ProviderInfo, hookimpl
from polysource.testing import FakeProvider

@hookimpl
def register_providers(register):
    register(FakeProvider("{name}", datasets={{"quote"}}, regions={{"US": 1}}))
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A temporary site directory on sys.path that importlib.metadata scans."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in list(sys.modules):
        if name.startswith("psplug_"):
            del sys.modules[name]
    importlib.invalidate_caches()


def test_entry_point_of_installed_distribution_is_discovered(site):
    """A distribution declaring a polysource entry point is loaded and its provider registered."""
    _install(site, "acme-quotes", "1.2.3", "acme", "psplug_acme", GOOD.format(name="acme"))
    pm = PluginManager(environ={})
    registry = pm.resolve()
    assert "acme" in registry.providers
    report = next(r for r in registry.plugins if r.name == "acme")
    assert (report.distribution, report.version, report.ok) == ("acme-quotes", "1.2.3", True)


def test_broken_plugin_is_reported_and_skipped(site):
    """A plugin that fails to import is reported with its error; the others still load."""
    _install(site, "acme-quotes", "1.0", "acme", "psplug_acme", GOOD.format(name="acme"))
    _install(site, "broken-plugin", "0.1", "broken", "psplug_broken", "import nonexistent_mod\n")
    registry = PluginManager(environ={}).resolve()
    assert "acme" in registry.providers
    (broken,) = [r for r in registry.broken if r.name == "broken"]
    assert broken.name == "broken"
    assert broken.distribution == "broken-plugin" and broken.version == "0.1"
    assert "nonexistent_mod" in broken.error


def test_strict_mode_makes_a_broken_plugin_fatal(site):
    """POLYSOURCE_STRICT_PLUGINS=1 turns a load failure into a PluginError naming the plugin."""
    _install(site, "broken-plugin", "0.1", "broken", "psplug_broken", "raise RuntimeError('x')\n")
    with pytest.raises(PluginError, match="'broken'"):
        PluginManager(environ={"POLYSOURCE_STRICT_PLUGINS": "1"})


def test_load_plugins_env_loads_only_named(site):
    """POLYSOURCE_LOAD_PLUGINS restricts loading to the named entry points."""
    _install(site, "a-dist", "1", "a", "psplug_a", GOOD.format(name="a"))
    _install(site, "b-dist", "1", "b", "psplug_b", GOOD.format(name="b"))
    registry = PluginManager(environ={"POLYSOURCE_LOAD_PLUGINS": "b"}).resolve()
    assert set(registry.providers) == {"b"}


def test_blocked_plugin_is_not_loaded(site):
    """A plugin named in the block list is not loaded."""
    _install(site, "a-dist", "1", "a", "psplug_a", GOOD.format(name="a"))
    _install(site, "b-dist", "1", "b", "psplug_b", GOOD.format(name="b"))
    registry = PluginManager(block=["a"], environ={}).resolve()
    assert "a" not in registry.providers
    assert "b" in registry.providers


def test_misspelled_hook_is_reported(site):
    """A hookimpl whose name matches no hookspec is caught by check_pending and reported."""
    source = """
    from polysource import hookimpl

    @hookimpl
    def register_provider(register):
        pass
    """
    _install(site, "typo-dist", "1", "typo", "psplug_typo", source)
    registry = PluginManager(environ={}).resolve()
    (broken,) = [r for r in registry.broken if r.name == "typo"]
    assert broken.name == "typo" and "register_provider" in broken.error


def test_raising_hook_skips_only_that_plugin():
    """A plugin whose register hook raises is reported; its partial registrations are undone."""

    class Boom:
        plugin_name = "boom"

        @hookimpl
        def register_providers(self, register):
            register(FakeProvider("half"))
            raise RuntimeError("boom at registration")

    good = FakeProvider("good")
    registry = PluginManager(plugins=[Boom(), good], entry_points=False, environ={}).resolve()
    assert set(registry.providers) == {"good"}
    assert registry.broken[0].name == "boom"
    assert "boom at registration" in registry.broken[0].error


def test_duplicate_provider_name_names_both_plugins():
    """Two plugins registering the same provider name give a PluginError naming both."""
    first, second = FakeProvider("dup"), FakeProvider("dup")

    class Other:
        plugin_name = "other-plugin"

        @hookimpl
        def register_providers(self, register):
            register(second)

    pm = PluginManager(plugins=[first, Other()], entry_points=False, environ={})
    with pytest.raises(PluginError, match=r"fake:dup.*other-plugin"):
        pm.resolve()


def test_duplicate_dataset_name_is_rejected():
    """A plugin that registers a standard dataset's name again is rejected, naming both."""
    from polysource.datasets import QUOTE

    class Clash:
        plugin_name = "clash"

        @hookimpl
        def register_datasets(self, register):
            register(QUOTE)

    pm = PluginManager(plugins=[Clash()], entry_points=False, environ={})
    with pytest.raises(PluginError, match=r"polysource.builtins.*clash"):
        pm.resolve()


def test_provider_serving_unknown_dataset_is_reported():
    """A provider that declares a dataset nobody registered is dropped and reported."""
    fake = FakeProvider("odd", datasets={"no_such_dataset"})
    registry = PluginManager(plugins=[fake], entry_points=False, environ={}).resolve()
    assert "odd" not in registry.providers
    assert "no_such_dataset" in registry.broken[0].error


def test_registering_a_non_provider_is_an_error_naming_the_plugin():
    """Registering an object without a ProviderInfo is reported against the plugin."""

    class Bad:
        plugin_name = "bad"

        @hookimpl
        def register_providers(self, register):
            register(object())

    registry = PluginManager(plugins=[Bad()], entry_points=False, environ={}).resolve()
    assert registry.broken[0].name == "bad"
    assert "ProviderInfo" in registry.broken[0].error


def test_registry_holds_sinks_without_pluggy_on_request_path():
    """on_event implementations are resolved once into plain functions."""
    from polysource.testing import EventRecorder

    recorder = EventRecorder()
    registry = PluginManager(plugins=[recorder], entry_points=False, environ={}).resolve()
    assert registry.event_sinks == (recorder.on_event,)
    assert registry.failover_hook is None
    assert ProviderInfo("x").regions == {"global": 100}


class _BoomFactory:
    """A provider factory whose constructor raises."""

    info = ProviderInfo(name="boom", datasets=frozenset({"quote"}), regions={"global": 1})

    def __init__(self, settings):
        raise RuntimeError("cannot reach the token service")


class _BoomPlugin:
    plugin_name = "boom-plugin"

    @hookimpl
    def register_providers(self, register):
        register(_BoomFactory)


async def test_provider_whose_factory_raises_is_reported_and_skipped():
    """A factory that raises marks its plugin broken, naming the provider; the others serve."""
    good = FakeProvider("a")
    config = load_config(environ={}, overrides={"telemetry": {"log": False}})
    async with Orchestrator(
        config, plugins=[good, _BoomPlugin()], entry_points=False, environ={}
    ) as orch:
        (broken,) = orch.registry.broken
        assert broken.name == "boom-plugin"
        assert "provider 'boom' failed to start" in broken.error
        assert "cannot reach the token service" in broken.error
        assert "boom" not in orch.registry.providers and "boom" not in orch.health()
        assert (await orch.fetch("quote", "AAPL")).source == "a"


async def test_provider_whose_factory_raises_is_fatal_in_strict_mode_and_closes_the_others():
    """In strict mode the factory's failure is a PluginError naming both; built ones are closed."""
    good = FakeProvider("a")
    config = load_config(
        environ={}, overrides={"telemetry": {"log": False}, "plugins": {"strict": True}}
    )
    orch = Orchestrator(config, plugins=[good, _BoomPlugin()], entry_points=False, environ={})
    with pytest.raises(PluginError, match=r"'boom-plugin'.*provider 'boom' failed to start"):
        await orch.start()
    assert good.closed


async def test_a_failed_startup_hook_stops_everything_the_start_began():
    """A startup hook that raises leaves no fleet listener, task, tier or open provider."""
    prefix = f"pstest-{uuid.uuid4().hex}"
    started = asyncio.Event()

    class Worker:
        plugin_name = "worker"

        @hookimpl
        def startup(self, orchestrator):
            orchestrator.spawn(asyncio.Event().wait(), name="worker")
            started.set()

    class Failing:
        plugin_name = "failing"

        @hookimpl
        async def startup(self, orchestrator):
            raise RuntimeError("startup failed")

    tiers = FakeCacheBackends()
    good = FakeProvider("a")
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": ["memory://", "fake://one"]},
            "fleet": {"url": f"redis://localhost:6379/0?prefix={prefix}"},
            "security": {"secret": Secret.of("startup-test-secret-0123456789abcdef")},
        },
    )
    before = asyncio.all_tasks()
    orch = Orchestrator(
        config,
        plugins=[good, tiers, polysource_redis, Worker(), Failing()],
        entry_points=False,
        environ={},
    )
    with pytest.raises(RuntimeError, match="startup failed"):
        await orch.start()
    assert started.is_set()
    await asyncio.sleep(0)  # let cancelled tasks finish their last step
    assert asyncio.all_tasks() - before == {asyncio.current_task()} - before
    assert good.closed
    assert all(backend.closed for backend in tiers.backends.values())


@pytest.mark.parametrize(
    "invalid", ["nosuch://x", "redis://localhost:6379/0?bogus=1"], ids=["unserved", "bad"]
)
async def test_tiers_built_before_an_invalid_tier_url_are_closed(invalid):
    """A start that fails on an invalid tier URL closes the tiers built before it and leaves
    no task behind."""
    tiers = FakeCacheBackends()
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": ["memory://", "fake://one", "fake://two", invalid]},
        },
    )
    before = asyncio.all_tasks()
    orch = Orchestrator(
        config,
        plugins=[FakeProvider("a"), tiers, polysource_redis],
        entry_points=False,
        environ={},
    )
    with pytest.raises(ConfigError, match=r"cache\.tiers"):
        await orch.start()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == {asyncio.current_task()} - before
    assert [tiers.backends[name].closed for name in ("one", "two")] == [True, True]
