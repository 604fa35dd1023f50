"""Start-up: what ``import polysource`` and loading the first-party plugins import.

Each check runs in a fresh interpreter (``python -c``), since this test process has long
imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from polysource.errors import PluginError
from polysource.registry import EmulatorRegistrar, ImportedFactory

FIRST_PARTY = ("belvo", "codarmory", "mx", "plaid", "tiingo", "wzstats", "yahoo")

NEVER_AT_START = ("redis", "sqlalchemy", "aiohttp.web")
"""Modules neither ``import polysource`` nor loading the first-party plugins may import."""

NOT_AT_IMPORT = (*NEVER_AT_START, "purgatory", "limits", "structlog", "rich")
"""Modules ``import polysource`` does not need: imported where they are used, if at all."""

_REPORT = """
import json, sys
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOURCE_")}
    env["POLYSOURCE_LOAD_PLUGINS"] = ",".join(FIRST_PARTY)
    out = subprocess.run(
        [sys.executable, "-c", code + _REPORT],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m in names or m.startswith(tuple(f"{n}." for n in names)))


def _emulator_modules(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m == "polysource.emulation"
        or (m.startswith("polysource_") and m.endswith((".emulator", ".sandbox")))
    )


def test_import_polysource_imports_nothing_heavy() -> None:
    """``import polysource`` imports neither redis-py, SQLAlchemy, ``aiohttp.web``, purgatory,
    ``limits`` nor structlog (and through it rich)."""
    modules = _modules_after("import polysource")
    assert "polysource.orchestrator" in modules
    assert _loaded(modules, NOT_AT_IMPORT) == []
    assert _emulator_modules(modules) == []


def test_loading_first_party_plugins_imports_no_emulator() -> None:
    """Building an orchestrator's registry from the first-party entry points registers every
    emulator without importing one, nor redis-py, SQLAlchemy or ``aiohttp.web``."""
    code = (
        "import polysource\n"
        "registry = polysource.Orchestrator().registry\n"
        f"assert sorted(registry.emulators) == {sorted(FIRST_PARTY)!r}, registry.plugins\n"
        "assert not registry.broken, registry.broken\n"
    )
    modules = _modules_after(code)
    assert {f"polysource_{name}" for name in FIRST_PARTY} <= modules
    assert _loaded(modules, NEVER_AT_START) == []
    assert _emulator_modules(modules) == []


def test_emulator_imported_when_asked_for() -> None:
    """An emulator registered by import path is imported by its factory's first call."""
    code = (
        "import polysource\n"
        "from polysource.emulation import Faults\n"
        "spec = polysource.Orchestrator().registry.emulators['tiingo']\n"
        "import sys\n"
        "assert 'polysource_tiingo.emulator' not in sys.modules\n"
        "from aiohttp import web\n"
        "assert isinstance(spec.factory(Faults()), web.Application)\n"
    )
    assert "polysource_tiingo.emulator" in _modules_after(code)


def test_emulator_registered_by_import_path() -> None:
    """``register(name, "module:function")`` stores an :class:`ImportedFactory` that calls the
    function on first use."""
    register = EmulatorRegistrar("emulator")
    register.current = "demo"
    register("demo", "polysource.emulation:Faults", default_port=9000)
    spec = register.items["demo"]
    assert spec.factory == ImportedFactory(
        "polysource.emulation:Faults", "emulator 'demo' of plugin 'demo'"
    )
    assert spec.factory(seed=3).seed == 3


@pytest.mark.parametrize("factory", ["polysource.emulation", "not a path", "a:b:c", 42])
def test_emulator_factory_neither_callable_nor_import_path_refused(factory: object) -> None:
    """A factory that is neither a callable nor ``package.module:function`` is a
    :class:`PluginError` naming the plugin and the emulator."""
    register = EmulatorRegistrar("emulator")
    register.current = "demo"
    with pytest.raises(PluginError, match="plugin 'demo' registered emulator 'x'"):
        register("x", factory)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "target", ["polysource_nowhere.emulator:create_app", "polysource.emulation:nothing"]
)
def test_emulator_import_path_that_does_not_resolve_is_a_plugin_error(target: str) -> None:
    """An import path whose module or attribute is missing fails the first call with a
    :class:`PluginError` naming the emulator and the path."""
    factory = ImportedFactory(target, "emulator 'x' of plugin 'demo'")
    with pytest.raises(PluginError, match=r"emulator 'x' of plugin 'demo' could not be loaded"):
        factory()


def test_emulator_import_path_to_a_non_callable_is_a_plugin_error() -> None:
    """An import path naming something that is not callable fails with a
    :class:`PluginError`."""
    factory = ImportedFactory("polysource.emulation:CONTROL_PREFIX", "emulator 'x'")
    with pytest.raises(PluginError, match="is not callable"):
        factory()
