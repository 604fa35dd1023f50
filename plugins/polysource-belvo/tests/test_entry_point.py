"""The distribution's entry point loads and registers its provider and emulator."""

from __future__ import annotations

import importlib.metadata

from aiohttp import web

from polysource.emulation import Faults
from polysource.registry import EmulatorRegistrar, ProviderRegistrar


def _load():
    (entry,) = [e for e in importlib.metadata.entry_points(group="polysource") if e.name == "belvo"]
    return entry.load()


def test_entry_point_registers_the_provider() -> None:
    """``register_providers`` registers belvo with its operations, datasets and regions."""
    registrar = ProviderRegistrar("provider")
    _load().register_providers(registrar)
    info = registrar.items["belvo"].info
    assert info.operations == {"create_link", "get_accounts", "sync_transactions"}
    assert info.datasets == {"accounts", "transactions"}
    assert dict(info.regions) == {"MX": 1, "CO": 1, "BR": 1}
    assert info.credentials == ("secret_id", "secret_password")


def test_entry_point_registers_the_emulator() -> None:
    """``register_emulators`` registers a factory building an aiohttp application."""
    registrar = EmulatorRegistrar("emulator")
    _load().register_emulators(registrar)
    spec = registrar.items["belvo"]
    assert spec.default_port == 8004
    assert isinstance(spec.factory(Faults()), web.Application)
