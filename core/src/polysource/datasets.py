"""The standard datasets of the first-party domains, with their schemas.

They live in core so that every provider of a domain maps onto the same schema: any market
data provider returns a [`Quote`][polysource.datasets.Quote] for ``quote``. Each constant is a
typed handle:
``await orch.fetch(QUOTE, "AAPL")`` is a ``Result[Quote]``.

Each standard dataset declares validators, built from the helpers here
([`typed()`][polysource.datasets.typed],
[`non_negative()`][polysource.datasets.non_negative],
[`not_below()`][polysource.datasets.not_below], [`each()`][polysource.datasets.each]): every field
holds its declared type,
prices, volumes and sizes are finite and never negative, a bar's high is not below its low.
A provider's answer that fails one is an ``invalid_response`` (see ``Dataset.validators``).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs
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
    "Validator",
    "WEAPON_META",
    "WEAPON_PROFILE",
    "WEAPON_STATS",
    "WeaponMeta",
    "WeaponProfile",
    "WeaponStats",
    "each",
    "non_negative",
    "normalize_symbol",
    "not_below",
    "typed",
]


Validator = Callable[[Any], str | None]
"""A check of a provider's answer: ``None`` if acceptable, else what is wrong (no values)."""


@functools.cache
def _hints(schema: type[Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(
        (f.name, hint)
        for f in attrs.fields(schema)
        if (hint := typing.get_type_hints(schema).get(f.name, Any)) is not Any
    )


def _wrong(value: Any, hint: Any, path: str) -> str | None:
    """Where ``value`` does not hold ``hint`` (``path`` or deeper), else ``None``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _wrong(value, inner[0], path) if len(inner) == 1 else None
    if hint is float:
        ok = value.__class__ in (float, int) and math.isfinite(value)
        return None if ok else f"{path} is not a finite number"
    if hint in (int, bool, str):
        return None if value.__class__ is hint else f"{path} is not a {hint.__name__}"
    if hint is Decimal:
        ok = isinstance(value, Decimal) and value.is_finite()
        return None if ok else f"{path} is not a finite decimal"
    if hint is dt.date:
        ok = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
        return None if ok else f"{path} is not a date"
    if hint is dt.datetime:
        return None if isinstance(value, dt.datetime) else f"{path} is not a datetime"
    if origin in (tuple, list, Sequence) and typing.get_args(hint):
        if not isinstance(value, tuple | list):
            return f"{path} is not a sequence"
        item = typing.get_args(hint)[0]
        return next(
            (w for i, x in enumerate(value) if (w := _wrong(x, item, f"{path}[{i}]"))), None
        )
    if origin in (dict, Mapping) and len(typing.get_args(hint)) == 2:
        if not isinstance(value, Mapping):
            return f"{path} is not a mapping"
        key_type, value_type = typing.get_args(hint)
        for k, v in value.items():
            found = _wrong(k, key_type, f"{path} key") or _wrong(v, value_type, f"{path}[{k!r}]")
            if found:
                return found
        return None
    if attrs.has(hint) and isinstance(hint, type):
        if not isinstance(value, hint):
            return f"{path} is not a {hint.__name__}"
        return next((w for n, h in _hints(hint) if (w := _wrong(getattr(value, n), h, n))), None)
    return None


def typed(value: Any) -> str | None:
    """Validator: every field of ``value`` holds the type its schema declares (a date is a
    date, a balance a finite Decimal, a price a finite number), nested classes included."""
    return _wrong(value, type(value), type(value).__name__)


def non_negative(*names: str) -> Validator:
    """Validator: the named numeric fields, where present, are never negative."""

    def check(value: Any) -> str | None:
        for name in names:
            number = getattr(value, name)
            if number is not None and not number >= 0:
                return f"{name} is negative"
        return None

    return check


def not_below(high: str, low: str) -> Validator:
    """Validator: field ``high`` is not below field ``low`` where both are present."""

    def check(value: Any) -> str | None:
        top, bottom = getattr(value, high), getattr(value, low)
        if top is not None and bottom is not None and top < bottom:
            return f"{high} is below {low}"
        return None

    return check


def each(name: str, *validators: Validator) -> Validator:
    """Validator: every item of the sequence field ``name`` passes ``validators``."""

    def check(value: Any) -> str | None:
        for index, item in enumerate(getattr(value, name)):
            for validator in validators:
                found = validator(item)
                if found is not None:
                    return f"{name}[{index}]: {found}"
        return None

    return check


_PRICES: Final = ("open", "high", "low")


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
    validators=(
        typed,
        non_negative("price", "previous_close", *_PRICES, "volume", "bid", "ask"),
        not_below("high", "low"),
    ),
)
DAILY_BARS: Final = Dataset(
    "daily_bars",
    DailyBars,
    CachePolicy(ttl={"free": 3600, "basic": 1800, "premium": 900}, stale=86400),
    normalize_key=normalize_symbol,
    description="Daily OHLCV bars of an instrument.",
    validators=(
        typed,
        each(
            "bars", non_negative(*_PRICES, "close", "volume", "adj_close"), not_below("high", "low")
        ),
    ),
)
FUNDAMENTALS: Final = Dataset(
    "fundamentals",
    Fundamentals,
    CachePolicy(ttl={"free": 86400, "basic": 21600, "premium": 3600}, stale=7 * 86400),
    merge="field_priority",
    normalize_key=normalize_symbol,
    description="Company fundamentals.",
    validators=(typed, non_negative("market_cap", "dividend_yield")),
)
ACCOUNTS: Final = Dataset(
    "accounts",
    Accounts,
    CachePolicy(ttl={"free": 300, "basic": 120, "premium": 60}, stale=3600),
    private=True,
    merge_key="account_id",
    description="Bank accounts of a tenant's connection.",
    validators=(typed,),
)
TRANSACTIONS: Final = Dataset(
    "transactions",
    Transactions,
    CachePolicy(ttl={"free": 600, "basic": 300, "premium": 120}, stale=3600),
    private=True,
    merge="union",
    merge_key="transaction_id",
    description="Bank transactions of a tenant's connection.",
    validators=(typed,),
)
WEAPON_STATS: Final = Dataset(
    "weapon_stats",
    WeaponStats,
    CachePolicy(ttl=86400, stale=7 * 86400),
    normalize_key=_slug,
    description="A weapon's base data.",
    validators=(typed, non_negative("max_level", "damage", "fire_rate")),
)
WEAPON_META: Final = Dataset(
    "weapon_meta",
    WeaponMeta,
    CachePolicy(ttl=3600, stale=86400),
    normalize_key=_slug,
    description="A weapon's meta tiers.",
    validators=(typed, non_negative("win_rate", "pick_rate")),
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
