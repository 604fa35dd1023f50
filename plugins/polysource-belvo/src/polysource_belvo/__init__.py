"""polysource plugin for Belvo: bank links, accounts and transactions in Mexico, Colombia, Brazil.

The entry point ``belvo`` in the ``polysource`` group names this module; its hooks register
[`BelvoProvider`][polysource_belvo.provider.BelvoProvider] (operations ``create_link``,
``get_accounts``, ``sync_transactions``; datasets ``accounts`` and ``transactions``) and a
local emulator of Belvo's API (``polysource emulate belvo``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from polysource.hookspecs import hookimpl
from polysource_belvo.provider import BelvoProvider

if TYPE_CHECKING:
    from polysource.registry import EmulatorRegistrar, ProviderRegistrar

__all__ = ["DEFAULT_EMULATOR_PORT", "BelvoProvider", "register_emulators", "register_providers"]

DEFAULT_EMULATOR_PORT: Final = 8004


@hookimpl
def register_providers(register: ProviderRegistrar) -> None:
    """Register the Belvo provider."""
    register(BelvoProvider)


@hookimpl
def register_emulators(register: EmulatorRegistrar) -> None:
    """Register the Belvo API emulator."""
    register(
        "belvo",
        "polysource_belvo.emulator:create_app",
        description=(
            "Belvo aggregation API: /api/links/, /api/accounts/, /api/transactions/ "
            "(secret keys: any; institutions erebor_mx_retail, gotham_mx_business (MFA), ...)"
        ),
        default_port=DEFAULT_EMULATOR_PORT,
    )
