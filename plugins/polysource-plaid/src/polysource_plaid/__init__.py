"""polysource plugin for Plaid: bank links, accounts and transactions (US and Canada).

The entry point ``plaid`` in the ``polysource`` group names this module; its hooks register
[`PlaidProvider`][polysource_plaid.provider.PlaidProvider] (operations ``create_link``,
``exchange_token``, ``get_accounts``, ``sync_transactions``; private datasets ``accounts`` and
``transactions``) and a local emulator of Plaid's Sandbox API (``polysource emulate plaid``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from polysource.hookspecs import hookimpl
from polysource_plaid.mapping import PlaidApiError
from polysource_plaid.provider import PlaidProvider

if TYPE_CHECKING:
    from polysource.registry import EmulatorRegistrar, ProviderRegistrar

__all__ = [
    "DEFAULT_EMULATOR_PORT",
    "PlaidApiError",
    "PlaidProvider",
    "register_emulators",
    "register_providers",
]

DEFAULT_EMULATOR_PORT: Final = 8003


@hookimpl
def register_providers(register: ProviderRegistrar) -> None:
    """Register the Plaid provider."""
    register(PlaidProvider)


@hookimpl
def register_emulators(register: EmulatorRegistrar) -> None:
    """Register the Plaid API emulator."""
    register(
        "plaid",
        "polysource_plaid.emulator:create_app",
        description=(
            "Plaid Sandbox API: /link/token/create, /sandbox/public_token/create, "
            "/item/public_token/exchange, /accounts/get, /transactions/sync (keys: any)"
        ),
        default_port=DEFAULT_EMULATOR_PORT,
    )
