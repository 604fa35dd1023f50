"""The distribution's entry point loads and registers its provider and emulator."""

from __future__ import annotations

import importlib.metadata

from aiohttp import web

from polysource.emulation import Faults
from polysource.registry import EmulatorRegistrar, ProviderRegistrar


def _load():
    (entry,) = [e for e in importlib.metadata.entry_points(group="polysource") if e.name == "yahoo"]
    return entry.load()


def test_entry_point_registers_the_provider() -> None:
    """``register_providers`` registers a provider named yahoo serving the market datasets."""
    registrar = ProviderRegistrar("provider")
    _load().register_providers(registrar)
    entry = registrar.items["yahoo"]
    assert entry.info.datasets == {"quote", "daily_bars", "fundamentals"}
    assert entry.info.max_batch_size == 50
    assert "global" in entry.info.regions and not entry.info.credentials


def test_entry_point_registers_the_emulator() -> None:
    """``register_emulators`` registers a factory building an aiohttp application."""
    registrar = EmulatorRegistrar("emulator")
    _load().register_emulators(registrar)
    spec = registrar.items["yahoo"]
    assert spec.default_port == 8002
    assert isinstance(spec.factory(Faults()), web.Application)
