"""Belvo's wire JSON mapped to polysource's schemas, and its errors to the taxonomy."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import orjson
import pytest

from polysource.errors import ErrorCategory, ProviderError
from polysource_belvo.mapping import (
    BelvoError,
    account_from,
    accounts_from,
    classify_error,
    link_from,
    page_from,
    parse_error,
    transaction_from,
    transactions_from,
)

from .payloads import ACCOUNT, ACCOUNT_ID, LINK, LINK_ID, error, page, transaction


def _invalid(call, *args) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call(*args)
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE
    return caught.value


def test_valid_link_is_active() -> None:
    """A ``valid`` link is an active Link carrying the link id and institution."""
    link = link_from(LINK)
    assert (link.provider, link.link_id, link.status) == ("belvo", LINK_ID, "active")
    assert link.institution == "erebor_mx_retail" and link.access_token is None


@pytest.mark.parametrize("status", ["token_required", "unconfirmed"])
def test_unfinished_link_is_pending(status) -> None:
    """A link still waiting for the user (MFA) is pending."""
    assert link_from(dict(LINK, status=status)).status == "pending"


def test_invalid_link_is_auth() -> None:
    """An ``invalid`` link needs new credentials: auth."""
    with pytest.raises(ProviderError) as caught:
        link_from(dict(LINK, status="invalid"))
    assert caught.value.category is ErrorCategory.AUTH


@pytest.mark.parametrize("missing", ["id", "status"])
def test_link_without_required_field_is_invalid_response(missing) -> None:
    """A link without its id or status is invalid_response."""
    broken = {k: v for k, v in LINK.items() if k != missing}
    _invalid(link_from, broken)


def test_link_in_an_array_is_accepted() -> None:
    """The array shape of Belvo's POST answers is tolerated for one link."""
    assert link_from([LINK]).link_id == LINK_ID


def test_account_maps_category_balances_and_mask() -> None:
    """The documented account maps to a depository checking account with decimals."""
    account = account_from(ACCOUNT)
    assert account.account_id == ACCOUNT_ID
    assert (account.type, account.subtype) == ("depository", "checking")
    assert account.name == "Cuenta Perfiles" and account.currency == "MXN"
    assert account.balance_current == Decimal("5874.13")
    assert account.balance_available == Decimal("5621.12")
    assert account.mask == "5181" and account.institution == "erebor_mx_retail"


@pytest.mark.parametrize(
    ("category", "kind", "subtype"),
    [
        ("CREDIT_CARD", "credit", "credit card"),
        ("SAVINGS_ACCOUNT", "depository", "savings"),
        ("LOAN_ACCOUNT", "loan", "loan"),
        ("INVESTMENT_ACCOUNT", "investment", "investment"),
        ("PENSION_FUND_ACCOUNT", "investment", "pension"),
        ("RECEIVABLES_ACCOUNT", "other", "receivables"),
        ("UNCATEGORIZED", "other", None),
        (None, "other", None),
    ],
)
def test_account_categories(category, kind, subtype) -> None:
    """Every Belvo account category has a provider-neutral type."""
    account = account_from(dict(ACCOUNT, category=category))
    assert (account.type, account.subtype) == (kind, subtype)


def test_account_nullable_fields() -> None:
    """Null name, number and balance fall back without failing."""
    account = account_from(dict(ACCOUNT, name=None, number=None, balance={"current": None}))
    assert account.name == "Cuentas de efectivo"
    assert account.mask is None and account.balance_current is None


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in ACCOUNT.items() if k != "id"},
        dict(ACCOUNT, currency=None),
        dict(ACCOUNT, balance={"current": "lots"}),
        dict(ACCOUNT, balance=[1, 2]),
        dict(ACCOUNT, name=5),
        "not an object",
    ],
)
def test_malformed_account_is_invalid_response(broken) -> None:
    """Missing ids, currencies or wrongly typed fields are invalid_response."""
    _invalid(account_from, broken)


def test_outflow_is_positive_and_inflow_negative() -> None:
    """OUTFLOW (money out) is positive; INFLOW (money in) is negative."""
    out = transaction_from(transaction(1, kind="OUTFLOW", amount=250.0))
    incoming = transaction_from(transaction(2, kind="INFLOW", amount=1200.5))
    assert out is not None and incoming is not None
    assert out.amount == Decimal("250.0") and incoming.amount == Decimal("-1200.5")
    assert out.account_id == ACCOUNT_ID and out.date == dt.date(2024, 2, 28)
    assert out.merchant == "OXXO" and out.category == "Transfers" and not out.pending


def test_transaction_without_direction_keeps_the_amount() -> None:
    """A null ``type`` keeps Belvo's amount as sent."""
    item = dict(transaction(1, amount=99.9), type=None)
    mapped = transaction_from(item)
    assert mapped is not None and mapped.amount == Decimal("99.9")


def test_pending_status_and_fallbacks() -> None:
    """PENDING is pending; a null value_date falls back to accounting_date, currency to the
    account's, and a string account is its id."""
    item = dict(
        transaction(1),
        status="PENDING",
        value_date=None,
        accounting_date="2024-02-27T13:01:41.941Z",
        currency=None,
        merchant=None,
    )
    mapped = transaction_from(item)
    assert mapped is not None
    assert mapped.pending and mapped.date == dt.date(2024, 2, 27)
    assert mapped.currency == "MXN" and mapped.merchant is None
    mapped = transaction_from(dict(transaction(2), account=ACCOUNT_ID))
    assert mapped is not None and mapped.account_id == ACCOUNT_ID


def test_transaction_with_null_amount_is_skipped() -> None:
    """A null amount (allowed by Belvo) records nothing."""
    assert transaction_from(dict(transaction(1), amount=None)) is None
    assert transactions_from([dict(transaction(1), amount=None), transaction(2)])[0].amount


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in transaction(1).items() if k != "amount"},
        {k: v for k, v in transaction(1).items() if k != "id"},
        dict(transaction(1), amount="NaN"),
        dict(transaction(1), amount=True),
        dict(transaction(1), type="SIDEWAYS"),
        dict(transaction(1), value_date=None, accounting_date=None, collected_at=None),
        dict(transaction(1), value_date="28/02/2024"),
        dict(transaction(1), account=None),
        dict(transaction(1), currency=None, account=ACCOUNT_ID),
    ],
)
def test_malformed_transaction_is_invalid_response(broken) -> None:
    """Missing or wrongly typed fields of a transaction are invalid_response."""
    _invalid(transaction_from, broken)


def test_page_envelope() -> None:
    """A page has its results, its next URL and its count."""
    url = "https://api.belvo.com/api/transactions/?link=x&page=2"
    parsed = page_from(page([transaction(1)], url))
    assert len(parsed.results) == 1 and parsed.next == url and parsed.count == 1
    assert page_from(page([])).next is None


@pytest.mark.parametrize(
    "broken",
    [
        {"count": 0, "next": None},
        {"results": {"a": 1}},
        {"results": [1]},
        {"results": [], "next": 5},
        {"results": [], "count": "many"},
        [],
    ],
)
def test_malformed_page_is_invalid_response(broken) -> None:
    """An envelope without results, or with wrongly typed fields, is invalid_response."""
    _invalid(page_from, broken)


def test_accounts_from_array_or_page() -> None:
    """POST retrievals answer an array; lists a page: both map."""
    assert accounts_from([ACCOUNT]) == accounts_from(page([copy.deepcopy(ACCOUNT)]))
    _invalid(accounts_from, "nope")


def test_parse_error_reads_the_array_and_other_shapes() -> None:
    """The first error object of the array; DRF ``detail``; non-JSON gives nothing."""
    body = orjson.dumps(error("required", "This field is required.", field="link"))
    assert parse_error(body) == BelvoError("required", "This field is required.", "link")
    assert parse_error(b'{"detail": "Not found."}') == BelvoError(None, "Not found.", None)
    assert parse_error(b"<html>oops</html>") == BelvoError()
    assert parse_error(b'["x"]') == BelvoError()


@pytest.mark.parametrize(
    ("status", "code", "category"),
    [
        (401, "authentication_failed", "auth"),
        (401, None, "auth"),
        (403, None, "auth"),
        (400, "login_error", "auth"),
        (400, "invalid_credentials", "auth"),
        (400, "session_expired", "auth"),
        (428, "token_required", "auth"),
        (400, "invalid_link", "auth"),
        (400, "unconfirmed_link", "auth"),
        (404, "not_found", "not_found"),
        (404, None, "not_found"),
        (408, "request_timeout", "timeout"),
        (400, "institution_down", "provider_down"),
        (400, "institution_unavailable", "provider_down"),
        (400, "institution_inactive", "provider_down"),
        (500, "unexpected_error", "provider_down"),
        (503, None, "provider_down"),
        (502, None, "provider_down"),
        (429, "too_many_requests", "rate_limit"),
        (429, None, "rate_limit"),
        (400, "too_many_sessions", "rate_limit"),
        (400, "required", "invalid_request"),
        (400, "invalid", "invalid_request"),
        (400, "invalid_period", "invalid_request"),
        (405, None, "invalid_response"),
        (409, None, "invalid_request"),
    ],
)
def test_every_documented_error_maps_to_its_category(status, code, category) -> None:
    """The PROVIDERS.md table: codes first, then statuses."""
    assert classify_error(status, BelvoError(code)) == (ErrorCategory(category), False)


def test_unsupported_operation_is_an_unsupported_invalid_request() -> None:
    """``unsupported_operation``: this institution cannot, another provider may."""
    assert classify_error(400, BelvoError("unsupported_operation")) == (
        ErrorCategory.INVALID_REQUEST,
        True,
    )
