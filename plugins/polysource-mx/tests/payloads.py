"""Answers shaped like MX's documented v20111101 responses (example values are invented)."""

from __future__ import annotations

import math
from typing import Any

from .conftest import MEMBER_GUID, USER_GUID

LOGIN_GUID = "CRD-9f61fb4c-912c-bd1e-b175-ccc7f0275cc1"
PASSWORD_GUID = "CRD-e3d7ea81-aac7-05e9-fbdd-4b493c6e474d"
CHECKING_GUID = "ACT-06d7f44b-caae-0f6e-1384-01f52e75dcb1"
CARD_GUID = "ACT-82a93692-f756-534f-9b2e-ad10a0f38462"


def pagination(page: int, total_pages: int, total: int, per_page: int = 25) -> dict[str, Any]:
    """The ``pagination`` object of a list answer."""
    return {
        "current_page": page,
        "per_page": per_page,
        "total_entries": total,
        "total_pages": total_pages,
    }


def user(partner_id: str = "user-1", guid: str = USER_GUID) -> dict[str, Any]:
    """``POST /users`` / ``GET /users/{guid}``."""
    return {
        "user": {
            "email": None,
            "guid": guid,
            "id": partner_id,
            "is_disabled": False,
            "metadata": None,
        }
    }


def users(*items: dict[str, Any]) -> dict[str, Any]:
    """``GET /users?id=...``."""
    return {"users": [i["user"] for i in items], "pagination": pagination(1, 1, len(items), 10)}


CREDENTIALS: dict[str, Any] = {
    "credentials": [
        {
            "display_order": 1,
            "field_name": "LOGIN",
            "field_type": "TEXT",
            "guid": LOGIN_GUID,
            "label": "Username",
            "type": "TEXT",
        },
        {
            "display_order": 2,
            "field_name": "PASSWORD",
            "field_type": "PASSWORD",
            "guid": PASSWORD_GUID,
            "label": "Password",
            "type": "PASSWORD",
        },
    ],
    "pagination": pagination(1, 1, 2, 100),
}


def member(status: str = "CONNECTED", partner_id: str | None = "user-1:mxbank") -> dict[str, Any]:
    """``POST /users/{user}/members`` (202) and friends."""
    return {
        "member": {
            "aggregated_at": "2024-03-01T10:00:00Z",
            "background_aggregation_is_disabled": False,
            "connection_status": status,
            "connection_status_message": None,
            "guid": MEMBER_GUID,
            "id": partner_id,
            "institution_code": "mxbank",
            "is_being_aggregated": True,
            "is_managed_by_user": False,
            "is_manual": False,
            "is_oauth": False,
            "metadata": None,
            "most_recent_job_detail_code": None,
            "most_recent_job_detail_text": None,
            "most_recent_job_guid": None,
            "name": "MX Bank",
            "needs_updated_credentials": False,
            "oauth_window_uri": None,
            "successfully_aggregated_at": None,
            "use_cases": ["PFM"],
            "user_guid": USER_GUID,
            "user_id": "user-1",
        }
    }


def members(*items: dict[str, Any]) -> dict[str, Any]:
    """``GET /users/{user}/members``."""
    return {"members": [i["member"] for i in items], "pagination": pagination(1, 1, len(items))}


def account(guid: str = CHECKING_GUID, **changes: Any) -> dict[str, Any]:
    """One element of ``accounts``."""
    item = {
        "account_number": "1234567890",
        "available_balance": 1000.23,
        "balance": 1000.23,
        "currency_code": "USD",
        "guid": guid,
        "institution_code": "mxbank",
        "member_guid": MEMBER_GUID,
        "name": "Checking",
        "subtype": "NONE",
        "type": "CHECKING",
        "user_guid": USER_GUID,
    }
    item.update(changes)
    return item


CARD = account(
    CARD_GUID,
    name="Visa",
    type="CREDIT_CARD",
    balance=250,
    available_balance=4750.0,
    account_number=None,
)


def accounts_page(items: list[dict[str, Any]], page: int = 1, total_pages: int = 1) -> dict:
    """One page of ``GET .../accounts``."""
    return {"accounts": items, "pagination": pagination(page, total_pages, len(items))}


def transaction(guid: str, amount: float, kind: str, date: str, **changes: Any) -> dict[str, Any]:
    """One element of ``transactions``."""
    item = {
        "account_guid": CHECKING_GUID,
        "amount": amount,
        "category": "Groceries",
        "currency_code": "USD",
        "date": date,
        "description": "Whole Foods",
        "guid": guid,
        "member_guid": MEMBER_GUID,
        "posted_at": f"{date}T12:00:00Z",
        "status": "POSTED",
        "top_level_category": "Food & Dining",
        "transacted_at": f"{date}T12:00:00Z",
        "type": kind,
        "user_guid": USER_GUID,
    }
    item.update(changes)
    return item


def transactions_page(
    items: list[dict[str, Any]], page: int = 1, total_pages: int = 1, total: int | None = None
) -> dict[str, Any]:
    """One page of ``GET .../transactions``."""
    count = len(items) if total is None else total
    return {"transactions": items, "pagination": pagination(page, total_pages, count)}


def pages_of(items: list[dict[str, Any]], per_page: int) -> list[dict[str, Any]]:
    """``items`` split into transaction pages of ``per_page``."""
    total_pages = max(1, math.ceil(len(items) / per_page))
    return [
        transactions_page(items[i * per_page : (i + 1) * per_page], i + 1, total_pages, len(items))
        for i in range(total_pages)
    ]
