"""Generated Sandbox data for the Plaid emulator: institutions, items, accounts, transactions.

Everything is derived from a seed with
[`polysource.emulation.stable_random()`][polysource.emulation.stable_random], so the same
seed gives the same accounts and transactions whatever was asked before. The dicts built here
have the exact wire shape of Plaid's ``AccountBase`` and ``Transaction`` objects: every key the
official SDK requires is present, nullable ones as ``null``.
"""

from __future__ import annotations

import datetime as dt
import random
import string
import uuid
from typing import Any, Final

from attrs import define, field, frozen

from polysource.emulation import stable_random

__all__ = [
    "INSTITUTIONS",
    "Institution",
    "Item",
    "Merchant",
    "build_item",
    "custom",
    "random_id",
    "refresh",
    "token",
    "transaction",
]

_ALPHABET: Final = string.ascii_letters + string.digits


@frozen
class Institution:
    """A Sandbox institution: its name, country and currency."""

    name: str
    country: str = "US"
    currency: str = "USD"


INSTITUTIONS: Final[dict[str, Institution]] = {
    "ins_109508": Institution("First Platypus Bank"),
    "ins_109509": Institution("First Gingham Credit Union"),
    "ins_109510": Institution("Tattersall Federal Credit Union"),
    "ins_109511": Institution("Tartan Bank"),
    "ins_109512": Institution("Houndstooth Bank"),
    "ins_43": Institution("Tartan-Dominion Bank of Canada", "CA", "CAD"),
}
"""Plaid's Sandbox institutions (their real Sandbox ids)."""


@frozen
class Merchant:
    """A kind of transaction the generator draws from."""

    name: str
    merchant: str | None
    primary: str
    detailed: str
    legacy: tuple[str, ...]
    channel: str
    low: float
    high: float


_FOOD: Final = ("Food and Drink", "Restaurants")
_SPENDING: Final = (
    Merchant("Starbucks", "Starbucks", "FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE",
             (*_FOOD, "Coffee Shop"), "in store", 3.5, 12.0),
    Merchant("Uber 063015 SF**POOL**", "Uber", "TRANSPORTATION",
             "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", ("Travel", "Taxi"), "online", 6.0, 45.0),
    Merchant("McDonald's", "McDonald's", "FOOD_AND_DRINK", "FOOD_AND_DRINK_FAST_FOOD",
             (*_FOOD, "Fast Food"), "in store", 5.0, 18.0),
    Merchant("SparkFun", "SparkFun", "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_ELECTRONICS",
             ("Shops", "Computers and Electronics"), "online", 20.0, 250.0),
    Merchant("Tectra Inc", None, "ENTERTAINMENT", "ENTERTAINMENT_OTHER_ENTERTAINMENT",
             ("Recreation",), "in store", 50.0, 600.0),
    Merchant("KFC", "KFC", "FOOD_AND_DRINK", "FOOD_AND_DRINK_FAST_FOOD",
             (*_FOOD, "Fast Food"), "in store", 7.0, 25.0),
    Merchant("United Airlines", "United Airlines", "TRAVEL", "TRAVEL_FLIGHTS",
             ("Travel", "Airlines and Aviation Services"), "online", 120.0, 900.0),
    Merchant("Touchstone Climbing", None, "PERSONAL_CARE",
             "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS", ("Recreation", "Gyms and Fitness Centers"),
             "in store", 40.0, 90.0),
    Merchant("Whole Foods Market", "Whole Foods", "FOOD_AND_DRINK", "FOOD_AND_DRINK_GROCERIES",
             ("Shops", "Food and Beverage Store"), "in store", 15.0, 180.0),
    Merchant("Comcast Cable", "Comcast", "RENT_AND_UTILITIES",
             "RENT_AND_UTILITIES_INTERNET_AND_CABLE", ("Service", "Cable"), "online", 60.0, 120.0),
)  # fmt: skip
_PAYROLL: Final = Merchant(
    "GUSTO PAY 123456", "Gusto", "INCOME", "INCOME_WAGES", ("Transfer", "Payroll"), "other",
    -2500.0, -1200.0,
)  # fmt: skip
_INTEREST: Final = Merchant(
    "Interest Earned", None, "INCOME", "INCOME_INTEREST_EARNED", ("Interest", "Interest Earned"),
    "other", -4.0, -0.5,
)  # fmt: skip
_CARD_PAYMENT: Final = Merchant(
    "CREDIT CARD 3333 PAYMENT *//", None, "LOAN_PAYMENTS", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT",
    ("Payment", "Credit Card"), "other", -400.0, -100.0,
)  # fmt: skip

_HISTORY_DAYS: Final = 90
_PER_ACCOUNT: Final = {"checking": 28, "savings": 6, "credit card": 24}


def random_id(rng: random.Random, length: int = 37) -> str:
    """A Plaid-style opaque id (letters and digits)."""
    return "".join(rng.choice(_ALPHABET) for _ in range(length))


def token(rng: random.Random, kind: str) -> str:
    """A Sandbox token such as ``access-sandbox-<uuid>``."""
    return f"{kind}-sandbox-{uuid.UUID(int=rng.getrandbits(128), version=4)}"


@define
class Item:
    """One emulated item (a bank login) and its change log.

    ``log`` is append-only: ``(kind, transaction_id, snapshot)`` with kind ``added``,
    ``modified`` or ``removed``; a ``/transactions/sync`` cursor is a position in it.
    ``version`` grows with every change made after creation, so a cursor issued before a
    change can tell that the data moved under a paging run.
    """

    item_id: str
    institution_id: str
    products: list[str]
    accounts: list[dict[str, Any]]
    seed: int
    webhook: str | None = None
    transactions: dict[str, dict[str, Any]] = field(factory=dict)
    log: list[tuple[str, str, dict[str, Any] | None]] = field(factory=list)
    version: int = 0
    login_required: bool = False
    serial: int = 0

    def add(self, snapshot: dict[str, Any]) -> None:
        """Record a new transaction."""
        self.transactions[snapshot["transaction_id"]] = snapshot
        self.log.append(("added", snapshot["transaction_id"], snapshot))

    def modify(self, snapshot: dict[str, Any]) -> None:
        """Record a transaction's new state."""
        self.transactions[snapshot["transaction_id"]] = snapshot
        self.log.append(("modified", snapshot["transaction_id"], snapshot))

    def remove(self, transaction_id: str) -> None:
        """Record that a transaction no longer exists."""
        snapshot = self.transactions.pop(transaction_id)
        self.log.append(("removed", transaction_id, {"account_id": snapshot["account_id"]}))

    def next_rng(self, purpose: str) -> random.Random:
        """A fresh deterministic generator for the next change of this item."""
        self.serial += 1
        return stable_random(self.seed, self.item_id, purpose, self.serial)


def _money(value: float) -> float:
    return round(value, 2)


def _account(rng: random.Random, subtype: str, currency: str) -> dict[str, Any]:
    names = {
        "checking": ("Plaid Checking", "Plaid Gold Standard 0% Interest Checking", "depository"),
        "savings": ("Plaid Saving", "Plaid Silver Standard 0.1% Interest Saving", "depository"),
        "credit card": ("Plaid Credit Card", "Plaid Diamond 12.5% APR Interest Credit Card",
                        "credit"),
    }  # fmt: skip
    name, official, kind = names[subtype]
    limit = _money(rng.choice((2000, 5000, 10000))) if kind == "credit" else None
    current = _money(rng.uniform(100, 1500) if kind == "credit" else rng.uniform(200, 25000))
    available = _money(limit - current) if limit is not None else _money(current - 10)
    return {
        "account_id": random_id(rng),
        "balances": {
            "available": available,
            "current": current,
            "limit": limit,
            "iso_currency_code": currency,
            "unofficial_currency_code": None,
        },
        "mask": f"{rng.randrange(10000):04d}",
        "name": name,
        "official_name": official,
        "type": kind,
        "subtype": subtype,
    }


def transaction(
    rng: random.Random,
    account: dict[str, Any],
    merchant: Merchant,
    day: dt.date,
    *,
    pending: bool = False,
    amount: float | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A Plaid ``Transaction`` object (every key the SDK requires, nullable ones null)."""
    value = _money(rng.uniform(merchant.low, merchant.high) if amount is None else amount)
    authorized = day - dt.timedelta(days=rng.choice((0, 0, 1)))
    return {
        "account_id": account["account_id"],
        "account_owner": None,
        "amount": value,
        "authorized_date": authorized.isoformat(),
        "authorized_datetime": None,
        "category": list(merchant.legacy),
        "category_id": f"{rng.randrange(10000000, 23000000)}",
        "check_number": None,
        "counterparties": [],
        "date": day.isoformat(),
        "datetime": None,
        "iso_currency_code": account["balances"]["iso_currency_code"],
        "location": dict.fromkeys(
            ("address", "city", "region", "postal_code", "country", "lat", "lon", "store_number")
        ),
        "logo_url": None,
        "merchant_entity_id": None,
        "merchant_name": merchant.merchant,
        "name": name or merchant.name,
        "original_description": None,
        "payment_channel": merchant.channel,
        "payment_meta": dict.fromkeys(
            (
                "by_order_of",
                "payee",
                "payer",
                "payment_method",
                "payment_processor",
                "ppd_id",
                "reason",
                "reference_number",
            )
        ),
        "pending": pending,
        "pending_transaction_id": None,
        "personal_finance_category": {
            "primary": merchant.primary,
            "detailed": merchant.detailed,
            "confidence_level": "VERY_HIGH",
        },
        "personal_finance_category_icon_url": (
            f"https://plaid-category-icons.plaid.com/PFC_{merchant.primary}.png"
        ),
        "transaction_code": None,
        "transaction_id": random_id(rng),
        "transaction_type": "place" if merchant.channel == "in store" else "special",
        "unofficial_currency_code": None,
        "website": None,
    }


def _merchants_for(subtype: str) -> tuple[tuple[Merchant, ...], Merchant | None]:
    if subtype == "checking":
        return _SPENDING, _PAYROLL
    if subtype == "savings":
        return (_INTEREST,), None
    return _SPENDING, _CARD_PAYMENT


def _history(
    seed: int, item_id: str, account: dict[str, Any], today: dt.date
) -> list[dict[str, Any]]:
    subtype = account["subtype"]
    rng = stable_random(seed, item_id, account["account_id"], "history")
    merchants, monthly = _merchants_for(subtype)
    rows = []
    for _ in range(_PER_ACCOUNT[subtype]):
        day = today - dt.timedelta(days=rng.randrange(1, _HISTORY_DAYS))
        rows.append(transaction(rng, account, rng.choice(merchants), day))
    if monthly is not None:
        for months in range(3):
            day = today - dt.timedelta(days=30 * months + 14)
            rows.append(transaction(rng, account, monthly, day))
    if subtype != "savings":
        rows.append(transaction(rng, account, rng.choice(merchants), today, pending=True))
    rows.sort(key=lambda row: (row["date"], row["transaction_id"]))
    return rows


def build_item(
    seed: int,
    item_id: str,
    institution_id: str,
    products: list[str],
    today: dt.date,
    webhook: str | None = None,
) -> Item:
    """A new item with three accounts (checking, savings, credit card) and 90 days of history."""
    institution = INSTITUTIONS.get(institution_id, Institution(institution_id))
    rng = stable_random(seed, item_id, "accounts")
    accounts = [
        _account(rng, subtype, institution.currency)
        for subtype in ("checking", "savings", "credit card")
    ]
    item = Item(item_id, institution_id, products, accounts, seed, webhook)
    history = [row for account in accounts for row in _history(seed, item_id, account, today)]
    history.sort(key=lambda row: (row["date"], row["transaction_id"]))
    for row in history:
        item.add(row)
    return item


def refresh(item: Item, today: dt.date) -> None:
    """New activity, as after ``/transactions/refresh``.

    The newest settled purchase is reversed (removed), the oldest pending transaction posts
    with a tip added (modified), and each spending account gets a new purchase (added).
    """
    rng = item.next_rng("refresh")
    settled = [t for t in item.transactions.values() if not t["pending"] and t["amount"] > 0]
    if settled:
        item.remove(max(settled, key=lambda t: (t["date"], t["transaction_id"]))["transaction_id"])
    pending = [t for t in item.transactions.values() if t["pending"]]
    if pending:
        posted = dict(min(pending, key=lambda t: (t["date"], t["transaction_id"])), pending=False)
        posted["amount"] = _money(posted["amount"] * rng.uniform(1.0, 1.2))
        item.modify(posted)
    for account in item.accounts:
        if account["subtype"] != "savings":
            item.add(transaction(rng, account, rng.choice(_SPENDING), today))
    item.version += 1


def custom(item: Item, rows: list[dict[str, Any]]) -> None:
    """Transactions posted by ``/sandbox/transactions/create`` (to the item's first account)."""
    account = item.accounts[0]
    for row in rows:
        rng = item.next_rng("custom")
        merchant = Merchant(row["description"], None, "GENERAL_MERCHANDISE",
                            "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", ("Shops",), "other",
                            0.0, 0.0)  # fmt: skip
        snapshot = transaction(
            rng,
            account,
            merchant,
            row["date_posted"],
            amount=row["amount"],
            name=row["description"],
        )
        snapshot["authorized_date"] = row["date_transacted"].isoformat()
        if row.get("iso_currency_code"):
            snapshot["iso_currency_code"] = row["iso_currency_code"]
        item.add(snapshot)
    item.version += 1
