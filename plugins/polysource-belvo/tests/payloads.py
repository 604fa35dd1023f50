"""Belvo answers shaped like the documented ones (values invented)."""

from __future__ import annotations

import copy
from typing import Any

LINK_ID = "8848bd0c-9c7e-4f53-a732-ec896b11d4c4"
ACCOUNT_ID = "0d3ffb69-f83b-456e-ad8e-208d0998d71d"

LINK: dict[str, Any] = {
    "id": LINK_ID,
    "institution": "erebor_mx_retail",
    "access_mode": "recurrent",
    "last_accessed_at": "2024-03-01T10:00:00Z",
    "created_at": "2024-03-01T10:00:00Z",
    "external_id": "tenant-1",
    "institution_user_id": "sooE7XJWEKypZJR603ecaWYk-8Ap0oD8Nr1pBQ4eG9c=",
    "status": "valid",
    "created_by": "bcef7f35-67f2-4b19-b009-cb38795faf09",
    "refresh_rate": "7d",
}

ACCOUNT: dict[str, Any] = {
    "id": ACCOUNT_ID,
    "link": LINK_ID,
    "institution": {"name": "erebor_mx_retail", "type": "bank"},
    "collected_at": "2024-03-01T10:00:05Z",
    "created_at": "2024-03-01T10:00:05Z",
    "category": "CHECKING_ACCOUNT",
    "balance_type": "ASSET",
    "type": "Cuentas de efectivo",
    "name": "Cuenta Perfiles",
    "number": "4057068115181",
    "balance": {"current": 5874.13, "available": 5621.12},
    "currency": "MXN",
    "public_identification_name": "CLABE",
    "public_identification_value": "150194683119900273",
    "last_accessed_at": "2024-03-01T10:00:05Z",
    "credit_data": None,
    "loan_data": None,
    "funds_data": None,
    "receivables_data": None,
    "bank_product_id": None,
    "internal_identification": None,
}


def transaction(
    number: int, *, kind: str = "OUTFLOW", amount: float = 250.0, day: str = "2024-02-28"
) -> dict[str, Any]:
    """A transaction object with every documented key."""
    return {
        "id": f"7ef7a2be-0000-4000-8000-{number:012d}",
        "internal_identification": None,
        "account": copy.deepcopy(ACCOUNT),
        "collected_at": "2024-03-01T10:00:06Z",
        "created_at": "2024-03-01T10:00:06Z",
        "value_date": day,
        "accounting_date": f"{day}T00:00:00Z",
        "amount": amount,
        "balance": 5874.13,
        "currency": "MXN",
        "description": "SPEI RECIBIDO" if kind == "INFLOW" else "OXXO",
        "observations": None,
        "merchant": {"logo": None, "website": None, "merchant_name": "OXXO"},
        "category": "Transfers",
        "subcategory": None,
        "reference": "0000123",
        "type": kind,
        "status": "PROCESSED",
        "credit_card_data": None,
    }


def page(results: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    """A list envelope ``{count, next, previous, results}``."""
    return {"count": len(results), "next": next_url, "previous": None, "results": results}


def error(code: str, message: str = "error", **extra: Any) -> list[dict[str, Any]]:
    """Belvo's error body: an array of one error object."""
    return [
        {
            "request_id": "a6e1c493d7a2453c8f1e2b9d0c7a6e1c",
            "code": code,
            "message": message,
            **extra,
        }
    ]
