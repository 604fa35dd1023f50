"""polysource plugin for the MX Platform API: bank links, accounts and transactions.

The entry point ``mx`` in the ``polysource`` group names this module; its hooks register
[`MXProvider`][polysource_mx.provider.MXProvider] (operations ``create_link``, ``get_accounts``,
``sync_transactions``; private datasets ``accounts`` and ``transactions``) and a local
emulator of MX's API (``polysource emulate mx``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from polysource.hookspecs import hookimpl
from polysource_mx.provider import MXProvider

if TYPE_CHECKING:
    from polysource.registry import EmulatorRegistrar, ProviderRegistrar

__all__ = ["DEFAULT_EMULATOR_PORT", "MXProvider", "register_emulators", "register_providers"]

DEFAULT_EMULATOR_PORT: Final = 8005


@hookimpl
def register_providers(register: ProviderRegistrar) -> None:
    """Register the MX provider."""
    register(MXProvider)


@hookimpl
def register_emulators(register: EmulatorRegistrar) -> None:
    """Register the MX Platform API emulator."""
    register(
        "mx",
        "polysource_mx.emulator:create_app",
        description=(
            "MX Platform API v20111101: users, members, accounts, transactions, institutions "
            "(Basic auth: any; sandbox bank 'mxbank', login mxuser)"
        ),
        default_port=DEFAULT_EMULATOR_PORT,
    )
