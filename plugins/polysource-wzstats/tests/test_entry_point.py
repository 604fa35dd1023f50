"""The distribution's entry point loads and registers its provider and emulator."""

from __future__ import annotations

import importlib.metadata

from aiohttp import web

from polysource.emulation import Faults
from polysource.registry import EmulatorRegistrar, ProviderRegistrar


def _load():
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="polysource") if e.name == "wzstats"
    ]
    return entry.load()


def test_entry_point_registers_the_provider() -> None:
    """``register_providers`` registers a global provider named wzstats with both datasets."""
    registrar = ProviderRegistrar("provider")
    _load().register_providers(registrar)
    entry = registrar.items["wzstats"]
    assert entry.info.datasets == {"weapon_stats", "weapon_meta"}
    assert entry.info.regions == {"global": 30}
    assert entry.info.max_batch_size == 500
    assert entry.info.rate_limits == ("30/minute",)
    assert entry.info.credentials == ()


def test_entry_point_registers_the_emulator() -> None:
    """``register_emulators`` registers a factory building an aiohttp application."""
    registrar = EmulatorRegistrar("emulator")
    _load().register_emulators(registrar)
    spec = registrar.items["wzstats"]
    assert spec.default_port == 8007
    assert isinstance(spec.factory(Faults()), web.Application)
