"""Plaid's wire JSON mapped to polysource's schemas and taxonomy, on documented payloads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest

from polysource.errors import ErrorCategory, ProviderError
from polysource_plaid.mapping import (
    PlaidApiError,
    accounts_from,
    classify_error,
    error_from_body,
    exchanged_link,
    link_token_link,
    public_token_from,
    sync_page_from,
    transaction_from,
)

from .conftest import (
    ACCESS_TOKEN,
    ACCOUNTS_GET,
    CREDIT_ACCOUNT,
    ITEM_ID,
    LINK_TOKEN,
    PUBLIC_TOKEN,
    plaid_error,
    sync_page,
    transaction,
)

ERROR_TABLE = [
    ("INVALID_INPUT", "INVALID_API_KEYS", 400, "auth"),
    ("INVALID_INPUT", "UNAUTHORIZED_ENVIRONMENT", 400, "auth"),
    ("INVALID_INPUT", "INVALID_ACCESS_TOKEN", 400, "auth"),
    ("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 400, "auth"),
    ("ITEM_ERROR", "INVALID_CREDENTIALS", 400, "auth"),
    ("RATE_LIMIT_EXCEEDED", "ACCOUNTS_LIMIT", 429, "rate_limit"),
    ("RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT", 429, "rate_limit"),
    ("RATE_LIMIT_EXCEEDED", "RATE_LIMIT", 429, "rate_limit"),
    ("API_ERROR", "INTERNAL_SERVER_ERROR", 500, "provider_down"),
    ("API_ERROR", "PLANNED_MAINTENANCE", 503, "provider_down"),
    ("INSTITUTION_ERROR", "INSTITUTION_DOWN", 400, "provider_down"),
    ("INSTITUTION_ERROR", "INSTITUTION_NOT_RESPONDING", 400, "provider_down"),
    ("ITEM_ERROR", "PRODUCT_NOT_READY", 400, "provider_down"),
    ("TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", 400, "provider_down"),
    ("INVALID_REQUEST", "MISSING_FIELDS", 400, "invalid_request"),
    ("INVALID_REQUEST", "INVALID_FIELD", 400, "invalid_request"),
    ("INVALID_REQUEST", "INVALID_BODY", 400, "invalid_request"),
    ("INVALID_REQUEST", "UNKNOWN_FIELDS", 400, "invalid_request"),
    ("INVALID_INPUT", "INVALID_PUBLIC_TOKEN", 400, "invalid_request"),
    ("INVALID_INPUT", "INVALID_ACCOUNT_ID", 400, "not_found"),
    ("INVALID_REQUEST", "NOT_FOUND", 404, "not_found"),
    ("SOME_NEW_TYPE", "SOME_NEW_CODE", 502, "provider_down"),
    ("SOME_NEW_TYPE", "SOME_NEW_CODE", 409, "invalid_request"),
]
"""Every row of PROVIDERS.md's Plaid table (plus the fallbacks by status)."""


@pytest.mark.parametrize(("error_type", "error_code", "status", "category"), ERROR_TABLE)
def test_error_codes_map_to_the_taxonomy(error_type, error_code, status, category) -> None:
    """Each documented error_type/error_code maps to the category of the table."""
    assert classify_error(error_type, error_code, status) is ErrorCategory(category)


def test_error_object_becomes_plaid_api_error_with_codes() -> None:
    """The error object's codes, request id and re-link flag travel on the error."""
    body = orjson.dumps(plaid_error("ITEM_ERROR", "ITEM_LOGIN_REQUIRED"))
    error = error_from_body(body, status=400, where="POST https://x/accounts/get")
    assert isinstance(error, PlaidApiError)
    assert error.category is ErrorCategory.AUTH and not error.retryable
    assert error.error_code == "ITEM_LOGIN_REQUIRED" and error.needs_relink
    assert error.request_id == "HNTDNrA8F1shFEW" and error.status == 400
    assert "ITEM_ERROR/ITEM_LOGIN_REQUIRED" in str(error)


def test_error_message_is_scrubbed_of_secrets() -> None:
    """A token echoed in Plaid's message is masked."""
    body = orjson.dumps(
        plaid_error("INVALID_INPUT", "INVALID_ACCESS_TOKEN", error_message=f"bad {ACCESS_TOKEN}")
    )
    error = error_from_body(body, status=400, where="POST x", secrets=(ACCESS_TOKEN,))
    assert error is not None and ACCESS_TOKEN not in str(error) and "***" in str(error)


@pytest.mark.parametrize("body", [b"<html>502</html>", b"[]", b'{"error": "x"}', b""])
def test_bodies_that_are_not_plaid_errors_are_not_parsed(body: bytes) -> None:
    """A proxy page or another JSON shape is left to the status mapping."""
    assert error_from_body(body, status=502, where="POST x") is None


def test_accounts_map_balances_as_decimals_and_the_institution() -> None:
    """``/accounts/get`` maps to Accounts with decimal balances and the item's institution."""
    accounts = accounts_from(ACCOUNTS_GET)
    checking, card = accounts.accounts
    assert checking.account_id == "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp"
    assert (checking.name, checking.type, checking.subtype) == (
        "Plaid Checking",
        "depository",
        "checking",
    )
    assert checking.balance_current == Decimal("110.0")
    assert checking.balance_available == Decimal("100.0")
    assert checking.currency == "USD" and checking.mask == "0000"
    assert checking.institution == "ins_109508"
    assert card.subtype == "credit card" and card.account_id == CREDIT_ACCOUNT["account_id"]


def test_transaction_keeps_plaid_sign_and_exact_decimal() -> None:
    """Positive is money out, as in polysource; 2307.21 stays exactly 2307.21."""
    out = transaction_from(transaction("t1", 2307.21))
    refund = transaction_from(transaction("t2", -500.0, name="Refund"))
    assert out.amount == Decimal("2307.21") and refund.amount == Decimal("-500.0")
    assert out.date == dt.date(2024, 2, 28)
    assert out.description == "Apple Store" and out.merchant == "Apple"
    assert out.category == "GENERAL_MERCHANDISE" and out.pending is False


def test_transaction_falls_back_to_legacy_category_and_unofficial_currency() -> None:
    """Without a personal finance category the legacy path is used; crypto uses unofficial."""
    item = transaction(
        "t3",
        personal_finance_category=None,
        category=["Food and Drink", "Restaurants"],
        iso_currency_code=None,
        unofficial_currency_code="DOGE",
        name=None,
    )
    mapped = transaction_from(item)
    assert mapped.category == "Food and Drink > Restaurants"
    assert mapped.currency == "DOGE" and mapped.description == "Apple"


def test_sync_page_maps_added_modified_removed() -> None:
    """A sync page keeps its three change lists and its cursor."""
    page = sync_page_from(
        sync_page(
            [transaction("a")],
            modified=[transaction("m")],
            removed=["r"],
            next_cursor="c2",
            has_more=True,
        )
    )
    assert [t.transaction_id for t in page.added] == ["a"]
    assert [t.transaction_id for t in page.modified] == ["m"]
    assert page.removed == ("r",) and page.next_cursor == "c2" and page.has_more
    assert page.status == "HISTORICAL_UPDATE_COMPLETE"


@pytest.mark.parametrize(
    "payload",
    [
        {k: v for k, v in sync_page().items() if k != "next_cursor"},
        {**sync_page(), "has_more": "no"},
        {**sync_page(), "added": None},
        sync_page([transaction("x", amount="12.00")]),
        sync_page([transaction("x", date="28/02/2024")]),
        sync_page([transaction("x", iso_currency_code=None)]),
        sync_page([{k: v for k, v in transaction("x").items() if k != "account_id"}]),
        [],
    ],
)
def test_malformed_sync_answers_are_invalid_response(payload) -> None:
    """Missing fields and wrong types in a 2xx answer are invalid_response."""
    with pytest.raises(ProviderError) as caught:
        sync_page_from(payload)
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE


def test_malformed_accounts_answer_is_invalid_response() -> None:
    """An account without balances is invalid_response."""
    bad = {**ACCOUNTS_GET, "accounts": [{"account_id": "a", "type": "depository"}]}
    with pytest.raises(ProviderError) as caught:
        accounts_from(bad)
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE


def test_links_wrap_tokens_as_secrets() -> None:
    """Link, public and access tokens come back masked."""
    pending = link_token_link({"link_token": LINK_TOKEN, "expiration": "x", "request_id": "r"})
    active = exchanged_link(
        {"access_token": ACCESS_TOKEN, "item_id": ITEM_ID, "request_id": "r"}, "ins_109508"
    )
    public = public_token_from({"public_token": PUBLIC_TOKEN, "request_id": "r"})
    assert pending.status == "pending" and pending.link_token.reveal() == LINK_TOKEN
    assert active.status == "active" and active.link_id == ITEM_ID
    assert active.access_token.reveal() == ACCESS_TOKEN and public.reveal() == PUBLIC_TOKEN
    for text in (repr(pending), repr(active), repr(public)):
        assert LINK_TOKEN not in text and ACCESS_TOKEN not in text and PUBLIC_TOKEN not in text
