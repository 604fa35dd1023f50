"""polysource plugin for Tiingo: quotes, daily bars and fundamentals of US stocks and ETFs.

The entry point ``tiingo`` in the ``polysource`` group names this module; its hooks register
[`TiingoProvider`][polysource_tiingo.provider.TiingoProvider] and a local emulator of Tiingo's API
(``polysource emulate tiingo``).

Canonical keys (see [`polysource_tiingo.symbols`][polysource_tiingo.symbols]): ``AAPL`` and
``BRK.B`` are served, as
``aapl`` and ``brk-b``; non-US listings (``LON:VOD``), indices (``^GSPC``), forex
(``FX:EURUSD``), futures (``FUT:GC``) and crypto (``BTC-USD``) are not, and raise
``invalid_request``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from polysource.hookspecs import hookimpl
from polysource_tiingo.provider import TiingoProvider

if TYPE_CHECKING:
    from polysource.registry import EmulatorRegistrar, ProviderRegistrar

__all__ = ["DEFAULT_EMULATOR_PORT", "TiingoProvider", "register_emulators", "register_providers"]

DEFAULT_EMULATOR_PORT: Final = 8001


@hookimpl
def register_providers(register: ProviderRegistrar) -> None:
    """Register the Tiingo provider."""
    register(TiingoProvider)


@hookimpl
def register_emulators(register: EmulatorRegistrar) -> None:
    """Register the Tiingo API emulator."""
    register(
        "tiingo",
        "polysource_tiingo.emulator:create_app",
        description="Tiingo REST API: /iex, /tiingo/daily, /tiingo/fundamentals (token: any)",
        default_port=DEFAULT_EMULATOR_PORT,
    )
