"""The standard datasets of the first-party domains, with their schemas.

They live in core so that every provider of a domain maps onto the same schema: any market
data provider returns a :class:`Quote` for ``quote``. Each constant is a typed handle:
``await orch.fetch(QUOTE, "AAPL")`` is a ``Result[Quote]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Final

from attrs import field, frozen

from polysource.models import CachePolicy, Dataset, _strings

__all__ = [
    "ACCOUNTS",
    "Account",
    "Accounts",
    "Bar",
    "DAILY_BARS",
    "DailyBars",
    "FUNDAMENTALS",
    "Fundamentals",
    "QUOTE",
    "Quote",
    "STANDARD_DATASETS",
    "TRANSACTIONS",
    "Transaction",
    "Transactions",
    "WEAPON_META",
    "WEAPON_PROFILE",
    "WEAPON_STATS",
    "WeaponMeta",
    "WeaponProfile",
    "WeaponStats",
    "normalize_symbol",
]


def _bars(value: Iterable[Bar]) -> tuple[Bar, ...]:
    return tuple(value)


def _accounts(value: Iterable[Account]) -> tuple[Account, ...]:
    return tuple(value)


def _transactions(value: Iterable[Transaction]) -> tuple[Transaction, ...]:
    return tuple(value)


def normalize_symbol(key: str) -> str:
    """Canonical instrument key: stripped, upper case (``" aapl "`` -> ``"AAPL"``)."""
    return key.strip().upper()


def _slug(key: str) -> str:
    return key.strip().lower()


@frozen
class Quote:
    """The latest price of an instrument."""

    symbol: str
    price: float
    currency: str | None = None
    timestamp: dt.datetime | None = None
    previous_close: float | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    volume: int | None = None
    bid: float | None = None
    ask: float | None = None
    change_percent: float | None = None


@frozen
class Bar:
    """One daily OHLCV bar."""

    date: dt.date
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: int | None = None
    adj_close: float | None = None


@frozen
class DailyBars:
    """Daily bars of an instrument, oldest first."""

    symbol: str
    bars: tuple[Bar, ...] = field(converter=_bars)


@frozen
class Fundamentals:
    """Company fundamentals; each field is optional because providers publish different ones."""

    symbol: str
    name: str | None = None
    exchange: str | None = None
    currency: str | None = None
    market_cap: float | None = None
    pe_ratio: float | None = None
    pb_ratio: float | None = None
    dividend_yield: float | None = None
    revenue: float | None = None
    description: str | None = None


@frozen
class Account:
    """A bank account, provider-neutral."""

    account_id: str
    name: str
    type: str
    currency: str
    subtype: str | None = None
    mask: str | None = None
    balance_current: Decimal | None = None
    balance_available: Decimal | None = None
    institution: str | None = None


@frozen
class Accounts:
    """The accounts of one bank connection."""

    accounts: tuple[Account, ...] = field(converter=_accounts)


@frozen
class Transaction:
    """A bank transaction. ``amount`` is positive for money out, negative for money in."""

    transaction_id: str
    account_id: str
    amount: Decimal
    currency: str
    date: dt.date
    description: str
    pending: bool = False
    merchant: str | None = None
    category: str | None = None


@frozen
class Transactions:
    """Transactions of one bank connection."""

    transactions: tuple[Transaction, ...] = field(converter=_transactions)
    removed: tuple[str, ...] = field(default=(), converter=_strings)
    cursor: str | None = None


@frozen
class WeaponStats:
    """A weapon's base data. Numeric ballistics are absent when the source does not publish them."""

    weapon_id: str
    name: str
    game: str | None = None
    category: str | None = None
    platform: str | None = None
    max_level: int | None = None
    attachments: tuple[str, ...] = field(default=(), converter=_strings)
    unlock: str | None = None
    damage: float | None = None
    fire_rate: float | None = None


@frozen
class WeaponMeta:
    """A weapon's standing in the meta: tier per map or mode; rates only where published."""

    weapon_id: str
    tiers: dict[str, str] = field(factory=dict)
    name: str | None = None
    win_rate: float | None = None
    pick_rate: float | None = None


@frozen
class WeaponProfile:
    """A weapon from several sources at once: base data from one, meta from another."""

    weapon_id: str
    stats: WeaponStats | None = None
    meta: WeaponMeta | None = None


QUOTE: Final = Dataset(
    "quote",
    Quote,
    CachePolicy(ttl={"free": 60, "basic": 15, "premium": 5}, stale=600, negative_ttl=60),
    merge="first",
    normalize_key=normalize_symbol,
    description="Latest price of an instrument.",
    validate=("price",),
    tolerance=0.02,
)
DAILY_BARS: Final = Dataset(
    "daily_bars",
    DailyBars,
    CachePolicy(ttl={"free": 3600, "basic": 1800, "premium": 900}, stale=86400),
    normalize_key=normalize_symbol,
    description="Daily OHLCV bars of an instrument.",
)
FUNDAMENTALS: Final = Dataset(
    "fundamentals",
    Fundamentals,
    CachePolicy(ttl={"free": 86400, "basic": 21600, "premium": 3600}, stale=7 * 86400),
    merge="field_priority",
    normalize_key=normalize_symbol,
    description="Company fundamentals.",
)
ACCOUNTS: Final = Dataset(
    "accounts",
    Accounts,
    CachePolicy(ttl={"free": 300, "basic": 120, "premium": 60}, stale=3600),
    private=True,
    merge_key="account_id",
    description="Bank accounts of a tenant's connection.",
)
TRANSACTIONS: Final = Dataset(
    "transactions",
    Transactions,
    CachePolicy(ttl={"free": 600, "basic": 300, "premium": 120}, stale=3600),
    private=True,
    merge="union",
    merge_key="transaction_id",
    description="Bank transactions of a tenant's connection.",
)
WEAPON_STATS: Final = Dataset(
    "weapon_stats",
    WeaponStats,
    CachePolicy(ttl=86400, stale=7 * 86400),
    normalize_key=_slug,
    description="A weapon's base data.",
)
WEAPON_META: Final = Dataset(
    "weapon_meta",
    WeaponMeta,
    CachePolicy(ttl=3600, stale=86400),
    normalize_key=_slug,
    description="A weapon's meta tiers.",
)

WEAPON_PROFILE: Final = Dataset(
    "weapon_profile",
    WeaponProfile,
    CachePolicy(cacheable=False),
    normalize_key=_slug,
    parts={"stats": "weapon_stats", "meta": "weapon_meta"},
    description="A weapon's base data and meta, each part from its own providers.",
)

STANDARD_DATASETS: Final = (
    QUOTE,
    DAILY_BARS,
    FUNDAMENTALS,
    ACCOUNTS,
    TRANSACTIONS,
    WEAPON_STATS,
    WEAPON_META,
    WEAPON_PROFILE,
)
