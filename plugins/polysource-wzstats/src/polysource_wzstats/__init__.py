"""polysource plugin for WZStats (wzstats.gg): Call of Duty weapon meta tiers.

The entry point ``wzstats`` in the ``polysource`` group names this module; its hooks register
[`WZStatsProvider`][polysource_wzstats.provider.WZStatsProvider] and a local emulator of the site's
JSON
API (``polysource emulate wzstats``).

Keys are lower-case weapon slugs (``m4``, ``jackal-pdw``, ``fr-5.56``). ``weapon_meta`` gives a
weapon's tier (``META``, ``A`` to ``D``) per map and mode; ``weapon_stats`` gives only its
name, game and category, since WZStats publishes no ballistics, win rates or pick rates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from polysource.hookspecs import hookimpl
from polysource_wzstats.provider import WZStatsProvider

if TYPE_CHECKING:
    from polysource.registry import EmulatorRegistrar, ProviderRegistrar

__all__ = ["DEFAULT_EMULATOR_PORT", "WZStatsProvider", "register_emulators", "register_providers"]

DEFAULT_EMULATOR_PORT: Final = 8007


@hookimpl
def register_providers(register: ProviderRegistrar) -> None:
    """Register the WZStats provider."""
    register(WZStatsProvider)


@hookimpl
def register_emulators(register: EmulatorRegistrar) -> None:
    """Register the WZStats API emulator."""
    register(
        "wzstats",
        "polysource_wzstats.emulator:create_app",
        description=(
            "WZStats front-end API: /wz2/weapons/meta/weapons-and-tier-lists/ "
            "(no key; POST /_emulator/data changes the data)"
        ),
        default_port=DEFAULT_EMULATOR_PORT,
    )
