"""polysource plugin for Yahoo Finance: global quotes, daily bars and fundamentals.

The entry point ``yahoo`` in the ``polysource`` group names this module; its hooks register
[`YahooProvider`][polysource_yahoo.provider.YahooProvider] and a local emulator of Yahoo's JSON API
(``polysource emulate yahoo``). Yahoo's API is unofficial and undocumented: no key, a cookie
and crumb handshake, and IP-based throttling.

Canonical keys (see [`polysource_yahoo.symbols`][polysource_yahoo.symbols]) map to Yahoo symbols:
``AAPL`` ->
``AAPL``, ``BRK.B`` -> ``BRK-B``, ``LON:VOD`` -> ``VOD.L``, ``^GSPC`` -> ``^GSPC``,
``FX:EURUSD`` -> ``EURUSD=X``, ``FUT:GC`` -> ``GC=F``, ``BTC-USD`` -> ``BTC-USD``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from polysource.hookspecs import hookimpl
from polysource_yahoo.provider import YahooProvider

if TYPE_CHECKING:
    from polysource.registry import EmulatorRegistrar, ProviderRegistrar

__all__ = ["DEFAULT_EMULATOR_PORT", "YahooProvider", "register_emulators", "register_providers"]

DEFAULT_EMULATOR_PORT: Final = 8002


@hookimpl
def register_providers(register: ProviderRegistrar) -> None:
    """Register the Yahoo Finance provider."""
    register(YahooProvider)


@hookimpl
def register_emulators(register: EmulatorRegistrar) -> None:
    """Register the Yahoo Finance API emulator."""
    register(
        "yahoo",
        "polysource_yahoo.emulator:create_app",
        description="Yahoo Finance JSON API: cookie + crumb, v7 quote, v8 chart, v10 quoteSummary",
        default_port=DEFAULT_EMULATOR_PORT,
    )
