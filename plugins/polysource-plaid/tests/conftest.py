"""Fixtures and documented wire payloads of the Plaid plugin's tests."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from polysource.config import ProviderConfig, Secret
from polysource.connections import Connection
from polysource.provider import ProviderSettings
from polysource.testing import FakeClock
from polysource_plaid import PlaidProvider

CLIENT_ID = "plaid-client-5e1f0c2a9b"
SECRET = "plaid-secret-d41d8cd98f00b204"
ACCESS_TOKEN = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6"
PUBLIC_TOKEN = "public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d"
LINK_TOKEN = "link-sandbox-af1a0311-da53-4636-b754-dd15cc058176"
ITEM_ID = "M5eVJqLnv3tbzdngLDp9FL5OlDNxlNhlE55op"


def connection(cursor: str | None = None, token: str = ACCESS_TOKEN) -> Connection:
    """The test tenant's connection at Plaid."""
    return Connection("user-1", "plaid", ITEM_ID, Secret.of(token), "ins_109508", cursor)


@pytest.fixture
async def make_provider() -> AsyncIterator[Callable[..., PlaidProvider]]:
    """A factory of Plaid providers (closed at teardown)."""
    made: list[PlaidProvider] = []

    def make(
        base_url: str | None = None,
        clock: FakeClock | None = None,
        credentials: dict[str, str] | None = None,
        **options: Any,
    ) -> PlaidProvider:
        values = {"client_id": CLIENT_ID, "secret": SECRET} if credentials is None else credentials
        config = ProviderConfig(
            base_url=base_url,
            credentials={k: Secret.of(v) for k, v in values.items()},
            options=options,
        )
        provider = PlaidProvider(ProviderSettings("plaid", config, clock=clock or FakeClock()))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


# -- payloads shaped exactly like Plaid's documented answers --------------------------------------

ACCOUNT = {
    "account_id": "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp",
    "balances": {
        "available": 100.0,
        "current": 110.0,
        "limit": None,
        "iso_currency_code": "USD",
        "unofficial_currency_code": None,
    },
    "mask": "0000",
    "name": "Plaid Checking",
    "official_name": "Plaid Gold Checking",
    "type": "depository",
    "subtype": "checking",
}
CREDIT_ACCOUNT = {
    "account_id": "3gE5gnRzNyfXpBK5wEEKcymJ5albGVUqg77gr",
    "balances": {
        "available": 12060.0,
        "current": 410.0,
        "limit": 2000.0,
        "iso_currency_code": "USD",
        "unofficial_currency_code": None,
    },
    "mask": "3333",
    "name": "Plaid Credit Card",
    "official_name": "Plaid Diamond 12.5% APR Interest Credit Card",
    "type": "credit",
    "subtype": "credit card",
}
ITEM = {
    "item_id": ITEM_ID,
    "institution_id": "ins_109508",
    "webhook": None,
    "error": None,
    "available_products": ["balance"],
    "billed_products": ["transactions"],
    "consent_expiration_time": None,
    "update_type": "background",
}
ACCOUNTS_GET = {
    "accounts": [ACCOUNT, CREDIT_ACCOUNT],
    "item": ITEM,
    "request_id": "bkVE1BHWMAZ9Rnr",
}


def transaction(transaction_id: str, amount: float = 2307.21, **changes: Any) -> dict[str, Any]:
    """A ``Transaction`` object as ``/transactions/sync`` sends it."""
    item = {
        "transaction_id": transaction_id,
        "account_id": ACCOUNT["account_id"],
        "amount": amount,
        "iso_currency_code": "USD",
        "unofficial_currency_code": None,
        "date": "2024-02-28",
        "authorized_date": "2024-02-27",
        "authorized_datetime": None,
        "datetime": None,
        "name": "Apple Store",
        "merchant_name": "Apple",
        "pending": False,
        "pending_transaction_id": None,
        "payment_channel": "in store",
        "transaction_code": None,
        "personal_finance_category": {
            "primary": "GENERAL_MERCHANDISE",
            "detailed": "GENERAL_MERCHANDISE_ELECTRONICS",
            "confidence_level": "VERY_HIGH",
        },
    }
    item.update(changes)
    return item


def sync_page(
    added: list[dict[str, Any]] | None = None,
    *,
    modified: list[dict[str, Any]] | None = None,
    removed: list[str] | None = None,
    next_cursor: str = "cursor-end",
    has_more: bool = False,
) -> dict[str, Any]:
    """A ``/transactions/sync`` answer."""
    return {
        "added": copy.deepcopy(added or []),
        "modified": copy.deepcopy(modified or []),
        "removed": [
            {"transaction_id": t, "account_id": ACCOUNT["account_id"]} for t in removed or []
        ],
        "accounts": [ACCOUNT],
        "next_cursor": next_cursor,
        "has_more": has_more,
        "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
        "request_id": "Wvhy9PZHQLV8njG",
    }


def plaid_error(error_type: str, error_code: str, status: int = 400, **extra: Any) -> dict:
    """Plaid's error object."""
    return {
        "error_type": error_type,
        "error_code": error_code,
        "error_message": extra.pop("error_message", "something went wrong"),
        "display_message": None,
        "request_id": "HNTDNrA8F1shFEW",
        "causes": [],
        "status": status,
        "documentation_url": "https://plaid.com/docs/errors/",
        "suggested_action": None,
        **extra,
    }
