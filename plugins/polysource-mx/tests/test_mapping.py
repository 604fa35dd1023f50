"""MX wire JSON mapped to polysource's schemas (pure functions, recorded-shape payloads)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from polysource.errors import ErrorCategory, ProviderError
from polysource_mx.mapping import (
    account_from,
    accounts_from,
    credentials_from,
    error_detail,
    link_from,
    member_from,
    page_from,
    transaction_from,
    transactions_from,
    user_guid_from,
    user_list_from,
)

from .conftest import MEMBER_GUID, USER_GUID
from .payloads import (
    CARD,
    CHECKING_GUID,
    CREDENTIALS,
    LOGIN_GUID,
    PASSWORD_GUID,
    account,
    member,
    pagination,
    transaction,
    user,
    users,
)


def _invalid(call, *args) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call(*args)
    assert info.value.category is ErrorCategory.INVALID_RESPONSE
    assert info.value.provider == "mx"
    return info.value


def test_debit_is_money_out_and_credit_money_in() -> None:
    """A DEBIT maps to a positive amount, a CREDIT to a negative one, as Decimals."""
    debit = transaction_from(transaction("TRN-1", 61.11, "DEBIT", "2024-02-28"))
    credit = transaction_from(transaction("TRN-2", 2500, "CREDIT", "2024-02-29"))
    assert debit.amount == Decimal("61.11") and credit.amount == Decimal("-2500")
    assert debit.date == dt.date(2024, 2, 28)
    assert debit.description == "Whole Foods" and debit.category == "Groceries"
    assert debit.account_id == CHECKING_GUID and debit.transaction_id == "TRN-1"


def test_pending_status_and_fallback_fields() -> None:
    """PENDING is pending; description and category fall back to the original ones."""
    item = transaction(
        "TRN-3",
        9.5,
        "DEBIT",
        "2024-03-01",
        status="PENDING",
        description=None,
        original_description="SQ *COFFEE",
        category=None,
        currency_code=None,
    )
    mapped = transaction_from(item)
    assert mapped.pending is True
    assert mapped.description == "SQ *COFFEE"
    assert mapped.category == "Food & Dining"
    assert mapped.currency == "USD"


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"amount": "61.11"}, "amount"),
        ({"amount": None}, "amount"),
        ({"amount": True}, "amount"),
        ({"type": "TRANSFER"}, "type"),
        ({"type": None}, "type"),
        ({"date": "28/02/2024"}, "date"),
        ({"date": None}, "date"),
        ({"guid": None}, "guid"),
        ({"account_guid": 7}, "account_guid"),
    ],
)
def test_bad_transaction_fields_are_invalid_response(changes: dict, what: str) -> None:
    """Wrong types or missing fields in a transaction are invalid_response naming the field."""
    item = {**transaction("TRN-1", 61.11, "DEBIT", "2024-02-28"), **changes}
    error = _invalid(transaction_from, item)
    assert what in str(error)


def test_transactions_need_the_array() -> None:
    """A list answer without ``transactions`` is invalid_response."""
    _invalid(transactions_from, {"pagination": pagination(1, 1, 0)})
    assert transactions_from({"transactions": []}) == []


def test_accounts_map_kind_subtype_mask_and_balances() -> None:
    """Accounts get a neutral kind, MX's type as subtype, the last four digits, balances."""
    checking, card = accounts_from({"accounts": [account(), CARD]})
    assert (checking.type, checking.subtype, checking.mask) == ("depository", "checking", "7890")
    assert checking.balance_current == Decimal("1000.23")
    assert (card.type, card.subtype, card.mask) == ("credit", "credit_card", None)
    assert card.balance_current == Decimal(250) and card.balance_available == Decimal("4750.0")
    assert card.institution == "mxbank" and card.currency == "USD"


def test_account_subtype_other_than_none_is_kept() -> None:
    """A real MX subtype (``PERSONAL``) wins over the type; unknown types are ``other``."""
    mapped = account_from(account(type="PROPERTY_X", subtype="PERSONAL"))
    assert (mapped.type, mapped.subtype) == ("other", "personal")


@pytest.mark.parametrize(
    "changes", [{"guid": None}, {"balance": "1000.23"}, {"name": 5}, {"currency_code": False}]
)
def test_bad_account_fields_are_invalid_response(changes: dict) -> None:
    """Wrong types or a missing guid in an account are invalid_response."""
    _invalid(account_from, account(**changes))


def test_pagination_is_read_and_required() -> None:
    """The pagination object gives the page and the number of pages; it must be there."""
    page = page_from({"pagination": pagination(2, 3, 60)})
    assert (page.current_page, page.total_pages, page.is_last) == (2, 3, False)
    assert page_from({"pagination": pagination(3, 3, 60)}).is_last
    assert page_from({"pagination": pagination(1, 0, 0)}).is_last
    _invalid(page_from, {"transactions": []})
    _invalid(page_from, {"pagination": {"current_page": "1", "total_pages": 1}})
    _invalid(page_from, {"pagination": {"current_page": 1}})


def test_users_and_members_are_read() -> None:
    """User guids and members come out of their wrappers."""
    assert user_guid_from(user()) == USER_GUID
    assert user_list_from(users(user("a", "USR-a"), user("b", "USR-b"))) == [
        ("USR-a", "a"),
        ("USR-b", "b"),
    ]
    read = member_from(member("CHALLENGED"))
    assert (read.guid, read.connection_status, read.partner_id) == (
        MEMBER_GUID,
        "CHALLENGED",
        "user-1:mxbank",
    )
    _invalid(user_guid_from, {"user": {"id": "x"}})
    _invalid(member_from, {"members": []})


@pytest.mark.parametrize(
    ("status", "expected"),
    [("CONNECTED", "active"), ("CHALLENGED", "pending"), ("PENDING", "pending"), (None, "pending")],
)
def test_link_is_active_only_when_connected(status: str | None, expected: str) -> None:
    """A member becomes an active link once CONNECTED, a pending one otherwise."""
    payload = member()
    payload["member"]["connection_status"] = status
    link = link_from(member_from(payload), USER_GUID)
    assert link.status == expected
    assert link.link_id == MEMBER_GUID and link.institution == "mxbank"
    assert link.access_token is not None and link.access_token.reveal() == USER_GUID
    assert USER_GUID not in repr(link)


def test_credentials_sorted_with_password_recognised() -> None:
    """Institution credential fields come in display order; PASSWORD fields are secret."""
    reordered = {"credentials": list(reversed(CREDENTIALS["credentials"]))}
    login, password = credentials_from(reordered)
    assert (login.guid, login.is_secret) == (LOGIN_GUID, False)
    assert (password.guid, password.is_secret) == (PASSWORD_GUID, True)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error":{"message":"User not found."}}', "User not found."),
        (b'{"error":"Error message from the request"}', "Error message from the request"),
        (b"<html>502</html>", None),
        (b'{"error":{"status":404}}', None),
        (b"[]", None),
    ],
)
def test_error_detail_reads_both_documented_bodies(body: bytes, expected: str | None) -> None:
    """Both error body forms give their message; anything else gives none."""
    assert error_detail(body) == expected
