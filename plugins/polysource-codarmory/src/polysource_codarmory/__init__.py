"""polysource plugin for CODArmory: weapon base data from the site's public JSON files.

The entry point ``codarmory`` in the ``polysource`` group names this module; its hooks
register [`CodArmoryProvider`][polysource_codarmory.provider.CodArmoryProvider] (dataset
``weapon_stats``,
keys are lower-case weapon slugs such as ``m4`` or ``kastov-762``) and a local emulator of
the raw files it reads (``polysource emulate codarmory``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from polysource.hookspecs import hookimpl
from polysource_codarmory.provider import CodArmoryProvider

if TYPE_CHECKING:
    from polysource.registry import EmulatorRegistrar, ProviderRegistrar

__all__ = [
    "DEFAULT_EMULATOR_PORT",
    "CodArmoryProvider",
    "register_emulators",
    "register_providers",
]

DEFAULT_EMULATOR_PORT: Final = 8006


@hookimpl
def register_providers(register: ProviderRegistrar) -> None:
    """Register the CODArmory provider."""
    register(CodArmoryProvider)


@hookimpl
def register_emulators(register: EmulatorRegistrar) -> None:
    """Register the emulator of CODArmory's raw JSON files."""
    register(
        "codarmory",
        "polysource_codarmory.emulator:create_app",
        description="CODArmory data files as raw.githubusercontent.com serves them: "
        "/tzurbaev/codarmory.com/main/src/database/{file}.json (ETag, 304)",
        default_port=DEFAULT_EMULATOR_PORT,
    )
