"""The distribution's entry point loads and registers its provider and emulator."""

from __future__ import annotations

import importlib.metadata

from aiohttp import web

from polysource.emulation import Faults
from polysource.registry import EmulatorRegistrar, ProviderRegistrar


def _load():
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="polysource") if e.name == "codarmory"
    ]
    return entry.load()


def test_entry_point_registers_the_provider() -> None:
    """``register_providers`` registers a provider named codarmory serving weapon_stats."""
    registrar = ProviderRegistrar("provider")
    _load().register_providers(registrar)
    entry = registrar.items["codarmory"]
    assert entry.info.datasets == {"weapon_stats"}
    assert entry.info.regions == {"global": 20}
    assert entry.info.max_batch_size == 500
    assert entry.info.rate_limits == ("60/minute",)
    assert entry.info.credentials == ()


def test_entry_point_registers_the_emulator() -> None:
    """``register_emulators`` registers a factory building an aiohttp application."""
    registrar = EmulatorRegistrar("emulator")
    _load().register_emulators(registrar)
    spec = registrar.items["codarmory"]
    assert spec.default_port == 8006
    assert isinstance(spec.factory(Faults()), web.Application)
