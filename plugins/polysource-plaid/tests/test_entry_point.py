"""The distribution's entry point loads and registers its provider and emulator."""

from __future__ import annotations

import importlib.metadata

from aiohttp import web

from polysource.emulation import Faults
from polysource.registry import EmulatorRegistrar, ProviderRegistrar


def _load():
    (entry,) = [e for e in importlib.metadata.entry_points(group="polysource") if e.name == "plaid"]
    return entry.load()


def test_entry_point_registers_the_provider() -> None:
    """``register_providers`` registers a provider named plaid with its operations."""
    registrar = ProviderRegistrar("provider")
    _load().register_providers(registrar)
    entry = registrar.items["plaid"]
    assert entry.info.datasets == {"accounts", "transactions"}
    assert entry.info.operations == {
        "create_link",
        "exchange_token",
        "get_accounts",
        "sync_transactions",
    }
    assert dict(entry.info.regions) == {"US": 1, "CA": 1}
    assert entry.info.credentials == ("client_id", "secret")


def test_entry_point_registers_the_emulator() -> None:
    """``register_emulators`` registers a factory building an aiohttp application."""
    registrar = EmulatorRegistrar("emulator")
    _load().register_emulators(registrar)
    spec = registrar.items["plaid"]
    assert spec.default_port == 8003
    assert isinstance(spec.factory(Faults()), web.Application)
