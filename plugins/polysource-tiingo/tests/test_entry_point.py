"""The distribution's entry point loads and registers its provider and emulator."""

from __future__ import annotations

import importlib.metadata

from aiohttp import web

from polysource.emulation import Faults
from polysource.registry import EmulatorRegistrar, ProviderRegistrar


def _load():
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="polysource") if e.name == "tiingo"
    ]
    return entry.load()


def test_entry_point_registers_the_provider() -> None:
    """``register_providers`` registers a provider named tiingo with its declared datasets."""
    registrar = ProviderRegistrar("provider")
    _load().register_providers(registrar)
    entry = registrar.items["tiingo"]
    assert entry.info.datasets == {"quote", "daily_bars", "fundamentals"}
    assert entry.info.max_batch_size == 100
    assert entry.info.regions["US"] < entry.info.regions["global"]


def test_entry_point_registers_the_emulator() -> None:
    """``register_emulators`` registers a factory building an aiohttp application."""
    registrar = EmulatorRegistrar("emulator")
    _load().register_emulators(registrar)
    spec = registrar.items["tiingo"]
    assert spec.default_port == 8001
    assert isinstance(spec.factory(Faults()), web.Application)
