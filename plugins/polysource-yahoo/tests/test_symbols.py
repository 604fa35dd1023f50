"""Canonical keys to Yahoo symbols."""

from __future__ import annotations

import pytest

from polysource.errors import ErrorCategory, ProviderError
from polysource_yahoo.symbols import to_yahoo


@pytest.mark.parametrize(
    ("key", "symbol"),
    [
        ("AAPL", "AAPL"),
        ("BRK.B", "BRK-B"),
        ("LON:VOD", "VOD.L"),
        ("STO:ERIC.B", "ERIC-B.ST"),
        ("HKG:0700", "0700.HK"),
        ("TYO:7203", "7203.T"),
        ("TSE:SHOP", "SHOP.TO"),
        ("^GSPC", "^GSPC"),
        ("FX:EURUSD", "EURUSD=X"),
        ("FUT:GC", "GC=F"),
        ("BTC-USD", "BTC-USD"),
    ],
)
def test_canonical_keys_map_to_yahoo_symbols(key: str, symbol: str) -> None:
    """Each documented canonical form maps to Yahoo's symbol."""
    assert to_yahoo(key) == symbol


@pytest.mark.parametrize(
    "key", ["", "AA PL", "aapl", "XXX:VOD", "FX:EUR", "FUT:", "EURUSD=X", "GC=F", "VOD.L.L"]
)
def test_non_canonical_keys_are_invalid_requests(key: str) -> None:
    """Provider forms, unknown exchanges and malformed keys raise invalid_request."""
    with pytest.raises(ProviderError) as info:
        to_yahoo(key)
    assert info.value.category is ErrorCategory.INVALID_REQUEST
