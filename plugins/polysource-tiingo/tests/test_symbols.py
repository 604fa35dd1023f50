"""Canonical keys to Tiingo tickers."""

from __future__ import annotations

import pytest

from polysource.errors import ErrorCategory, ProviderError
from polysource_tiingo.symbols import to_tiingo


@pytest.mark.parametrize(
    ("key", "ticker"),
    [("AAPL", "aapl"), ("BRK.B", "brk-b"), ("BF.B", "bf-b"), ("V", "v"), ("QQQ", "qqq")],
)
def test_us_equities_map_to_lower_case_dash_tickers(key: str, ticker: str) -> None:
    """US stocks map to Tiingo's lower-case tickers, share classes with a dash."""
    assert to_tiingo(key) == ticker


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("FX:EURUSD", "forex"),
        ("FUT:GC", "futures"),
        ("^GSPC", "indices"),
        ("BTC-USD", "crypto"),
        ("LON:VOD", "non-US"),
    ],
)
def test_keys_tiingo_does_not_serve_are_invalid_requests(key: str, kind: str) -> None:
    """Forex, futures, indices, crypto and non-US keys raise invalid_request naming the kind."""
    with pytest.raises(ProviderError) as info:
        to_tiingo(key)
    assert info.value.category is ErrorCategory.INVALID_REQUEST
    assert kind in info.value.message


@pytest.mark.parametrize("key", ["", "AA PL", "aapl", "A/B", "TOOLONGTICKER1", "FX:EUR"])
def test_malformed_keys_are_invalid_requests(key: str) -> None:
    """A key that is not canonical raises invalid_request instead of crashing."""
    with pytest.raises(ProviderError) as info:
        to_tiingo(key)
    assert info.value.category is ErrorCategory.INVALID_REQUEST
