"""Canonical instrument keys and Tiingo's ticker form.

polysource writes one canonical key per instrument (upper case, as ``normalize_symbol``
leaves it); every market data plugin maps it to its provider's form:

=====================  ==============  =====================================
Instrument             Canonical key   Tiingo
=====================  ==============  =====================================
US stock or ETF        ``AAPL``        ``aapl``
US share class         ``BRK.B``       ``brk-b``
Non-US listing         ``LON:VOD``     not served (``invalid_request``)
Index                  ``^GSPC``       not served (``invalid_request``)
Forex pair             ``FX:EURUSD``   not served (``invalid_request``)
Future (root)          ``FUT:GC``      not served (``invalid_request``)
Crypto pair            ``BTC-USD``     not served (``invalid_request``)
=====================  ==============  =====================================

Tiingo's forex (``/tiingo/fx``) and crypto (``/tiingo/crypto``) APIs are out of scope; a key
of those kinds, or one that is not a canonical key at all, raises
[`ProviderError`][polysource.errors.ProviderError] with category ``invalid_request``.
"""

from __future__ import annotations

import re
from typing import Final

from polysource.errors import ErrorCategory, ProviderError

__all__ = ["to_tiingo"]

_US_EQUITY: Final = re.compile(r"[A-Z0-9]{1,10}(?:\.[A-Z]{1,3})?")
_OTHER_KINDS: Final = (
    (re.compile(r"FX:[A-Z]{6}"), "forex pairs"),
    (re.compile(r"FUT:[A-Z0-9]{1,6}"), "futures"),
    (re.compile(r"\^[A-Z0-9.]{1,12}"), "indices"),
    (re.compile(r"[A-Z0-9]{2,10}-[A-Z]{3,4}"), "crypto pairs"),
    (re.compile(r"[A-Z]{2,5}:[A-Z0-9.&-]{1,15}"), "non-US listings"),
)


def to_tiingo(key: str, *, provider: str = "tiingo") -> str:
    """Tiingo's ticker for a canonical key (``BRK.B`` -> ``brk-b``).

    Raises:
        ProviderError: ``invalid_request`` for a key Tiingo does not serve or that is not a
            canonical key.
    """
    if _US_EQUITY.fullmatch(key):
        return key.replace(".", "-").lower()
    for pattern, kind in _OTHER_KINDS:
        if pattern.fullmatch(key):
            raise ProviderError(
                f"{key!r}: {kind} are not served by this provider",
                provider=provider,
                category=ErrorCategory.INVALID_REQUEST,
                unsupported=True,
            )
    raise ProviderError(
        f"{key!r} is not a canonical instrument key (e.g. AAPL, BRK.B)",
        provider=provider,
        category=ErrorCategory.INVALID_REQUEST,
    )
