"""Canonical instrument keys and Yahoo Finance's symbol form.

polysource writes one canonical key per instrument (upper case, as ``normalize_symbol``
leaves it); every market data plugin maps it to its provider's form:

=====================  ================  ==============
Instrument             Canonical key     Yahoo
=====================  ================  ==============
US stock or ETF        ``AAPL``          ``AAPL``
US share class         ``BRK.B``         ``BRK-B``
Non-US listing         ``LON:VOD``       ``VOD.L``
Non-US share class     ``STO:ERIC.B``    ``ERIC-B.ST``
Index                  ``^GSPC``         ``^GSPC``
Forex pair             ``FX:EURUSD``     ``EURUSD=X``
Future (root)          ``FUT:GC``        ``GC=F``
Crypto pair            ``BTC-USD``       ``BTC-USD``
=====================  ================  ==============

A non-US listing is ``EXCHANGE:SYMBOL`` with the exchange codes of
[`EXCHANGES`][polysource_yahoo.symbols.EXCHANGES] (the
codes Google Finance uses: ``LON``, ``TSE``, ``ETR``, ``EPA``, ``TYO``, ``HKG``, ...); US
listings take no prefix. A key that is none of these raises
[`ProviderError`][polysource.errors.ProviderError] with category ``invalid_request``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from polysource.errors import ErrorCategory, ProviderError

__all__ = ["EXCHANGES", "to_yahoo"]

EXCHANGES: Final[Mapping[str, str]] = {
    "AMS": "AS",  # Euronext Amsterdam
    "ASX": "AX",  # Australian Securities Exchange
    "BIT": "MI",  # Borsa Italiana
    "BME": "MC",  # Bolsa de Madrid
    "BMV": "MX",  # Bolsa Mexicana de Valores
    "BOM": "BO",  # BSE India
    "BVMF": "SA",  # B3 Sao Paulo
    "CPH": "CO",  # Nasdaq Copenhagen
    "CVE": "V",  # TSX Venture
    "EBR": "BR",  # Euronext Brussels
    "ELI": "LS",  # Euronext Lisbon
    "EPA": "PA",  # Euronext Paris
    "ETR": "DE",  # Xetra
    "FRA": "F",  # Frankfurt
    "HEL": "HE",  # Nasdaq Helsinki
    "HKG": "HK",  # Hong Kong
    "JSE": "JO",  # Johannesburg
    "KRX": "KS",  # Korea Exchange
    "LON": "L",  # London Stock Exchange
    "NSE": "NS",  # National Stock Exchange of India
    "NZE": "NZ",  # New Zealand
    "OSL": "OL",  # Oslo Bors
    "SGX": "SI",  # Singapore
    "SHA": "SS",  # Shanghai
    "SHE": "SZ",  # Shenzhen
    "STO": "ST",  # Nasdaq Stockholm
    "SWX": "SW",  # SIX Swiss
    "TPE": "TW",  # Taiwan
    "TSE": "TO",  # Toronto
    "TYO": "T",  # Tokyo
    "VIE": "VI",  # Vienna
}

_EQUITY: Final = re.compile(r"[A-Z0-9]{1,10}(?:\.[A-Z]{1,3})?")
_LISTING: Final = re.compile(r"([A-Z]{2,5}):([A-Z0-9]{1,12}(?:\.[A-Z]{1,3})?)")
_INDEX: Final = re.compile(r"\^[A-Z0-9.]{1,12}")
_FOREX: Final = re.compile(r"FX:([A-Z]{6})")
_FUTURE: Final = re.compile(r"FUT:([A-Z0-9]{1,6})")
_CRYPTO: Final = re.compile(r"[A-Z0-9]{2,10}-[A-Z]{3,4}")


def _invalid(message: str, provider: str) -> ProviderError:
    return ProviderError(message, provider=provider, category=ErrorCategory.INVALID_REQUEST)


def to_yahoo(key: str, *, provider: str = "yahoo") -> str:
    """Yahoo's symbol for a canonical key (``BRK.B`` -> ``BRK-B``, ``FX:EURUSD`` -> ``EURUSD=X``).

    Raises:
        ProviderError: ``invalid_request`` for a key that is not a canonical key.
    """
    if _EQUITY.fullmatch(key) or _INDEX.fullmatch(key) or _CRYPTO.fullmatch(key):
        return key.replace(".", "-") if not key.startswith("^") else key
    if match := _FOREX.fullmatch(key):
        return f"{match[1]}=X"
    if match := _FUTURE.fullmatch(key):
        return f"{match[1]}=F"
    if match := _LISTING.fullmatch(key):
        suffix = EXCHANGES.get(match[1])
        if suffix is None:
            raise _invalid(f"{key!r}: unknown exchange code {match[1]!r}", provider)
        return f"{match[2].replace('.', '-')}.{suffix}"
    raise _invalid(
        f"{key!r} is not a canonical instrument key (e.g. AAPL, BRK.B, LON:VOD, FX:EURUSD)",
        provider,
    )
