"""Pure mapping of Belvo's wire JSON to polysource's schemas, and of its errors to the taxonomy.

No I/O here: every function takes decoded JSON (or an error body's bytes) and returns schema
instances or a category. A 2xx payload without the fields a schema needs, or with fields of
the wrong type, raises [`ProviderError`][polysource.errors.ProviderError] with ``invalid_response``.

Belvo amounts are positive, with the direction in ``type``: ``OUTFLOW`` (money out) maps to a
positive amount and ``INFLOW`` (money in) to a negative one, polysource's sign convention. A
transaction whose ``type`` is ``null`` (Belvo's "no direction reported") keeps the amount as
Belvo sent it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson
from attrs import frozen

from polysource.datasets import Account, Transaction
from polysource.errors import ErrorCategory, ProviderError
from polysource.http import classify_status
from polysource.operations import Link

__all__ = [
    "PROVIDER",
    "BelvoError",
    "Page",
    "account_from",
    "accounts_from",
    "classify_error",
    "link_from",
    "page_from",
    "parse_error",
    "transaction_from",
    "transactions_from",
]

PROVIDER: Final = "belvo"

_ACCOUNT_KINDS: Final[Mapping[str, tuple[str, str | None]]] = {
    "CHECKING_ACCOUNT": ("depository", "checking"),
    "SAVINGS_ACCOUNT": ("depository", "savings"),
    "CREDIT_CARD": ("credit", "credit card"),
    "LOAN_ACCOUNT": ("loan", "loan"),
    "INVESTMENT_ACCOUNT": ("investment", "investment"),
    "PENSION_FUND_ACCOUNT": ("investment", "pension"),
    "RECEIVABLES_ACCOUNT": ("other", "receivables"),
    "UNCATEGORIZED": ("other", None),
}
"""Belvo's account ``category`` to a provider-neutral (type, subtype)."""

_CODE_CATEGORIES: Final[Mapping[str, ErrorCategory]] = {
    # The end user's bank login, the link's state, or our own keys: only re-linking helps.
    "authentication_failed": ErrorCategory.AUTH,
    "not_authenticated": ErrorCategory.AUTH,
    "permission_denied": ErrorCategory.AUTH,
    "login_error": ErrorCategory.AUTH,
    "invalid_credentials": ErrorCategory.AUTH,
    "session_expired": ErrorCategory.AUTH,
    "token_required": ErrorCategory.AUTH,
    "invalid_link": ErrorCategory.AUTH,
    "unconfirmed_link": ErrorCategory.AUTH,
    "not_found": ErrorCategory.NOT_FOUND,
    "request_timeout": ErrorCategory.TIMEOUT,
    "institution_down": ErrorCategory.PROVIDER_DOWN,
    "institution_unavailable": ErrorCategory.PROVIDER_DOWN,
    "institution_inactive": ErrorCategory.PROVIDER_DOWN,
    "unexpected_error": ErrorCategory.PROVIDER_DOWN,
    "service_unavailable": ErrorCategory.PROVIDER_DOWN,
    "too_many_requests": ErrorCategory.RATE_LIMIT,
    "throttled": ErrorCategory.RATE_LIMIT,
    "too_many_sessions": ErrorCategory.RATE_LIMIT,
}

_UNSUPPORTED_CODES: Final = frozenset({"unsupported_operation"})
"""Codes meaning "this institution cannot do that at Belvo": another aggregator may."""


def _invalid(message: str) -> ProviderError:
    return ProviderError(message, provider=PROVIDER, category=ErrorCategory.INVALID_RESPONSE)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(f"{what} is {type(value).__name__}, expected an object")
    return value


def _str(item: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    if name not in item:
        if required:
            raise _invalid(f"field {name!r} is missing")
        return None
    value = item[name]
    if value is None:
        if required:
            raise _invalid(f"field {name!r} is null")
        return None
    if not isinstance(value, str):
        raise _invalid(f"field {name!r} is {type(value).__name__}, expected a string")
    return value


def _id(item: Mapping[str, Any], name: str = "id") -> str:
    value = _str(item, name, required=True)
    assert value is not None
    if not value:
        raise _invalid(f"field {name!r} is empty")
    return value


def _decimal(item: Mapping[str, Any], name: str) -> Decimal | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _invalid(f"field {name!r} is {type(value).__name__}, expected a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise _invalid(f"field {name!r} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise _invalid(f"field {name!r} is not a finite number: {value!r}")
    return number


def _date(text: str | None, name: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise _invalid(f"field {name!r} is not an ISO 8601 date: {text!r}") from exc


# -- links -----------------------------------------------------------------------------------


def link_from(payload: Any) -> Link:
    """A [`Link`][polysource_belvo.mapping.Link] from ``POST /api/links/``'s answer (a link object).

    ``status`` ``valid`` is an ``active`` link; ``unconfirmed`` and ``token_required`` (the
    user still owes an MFA token) are ``pending``; an ``invalid`` link needs new credentials
    and is answered as ``auth``.
    """
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]  # tolerate the array shape of Belvo's POST retrievals
    item = _object(payload, "link")
    link_id = _id(item)
    status = _str(item, "status", required=True)
    if status == "invalid":
        raise ProviderError(
            f"link {link_id} is invalid: the institution rejected the credentials",
            provider=PROVIDER,
            category=ErrorCategory.AUTH,
        )
    return Link(
        provider=PROVIDER,
        link_id=link_id,
        status="active" if status == "valid" else "pending",
        institution=_str(item, "institution"),
    )


# -- pages -----------------------------------------------------------------------------------


@frozen
class Page:
    """One page of a Belvo list: its items and the absolute URL of the next page, if any."""

    results: tuple[Mapping[str, Any], ...]
    next: str | None
    count: int | None = None


def page_from(payload: Any) -> Page:
    """A [`Page`][polysource_belvo.mapping.Page] from a list endpoint's envelope ``{count, next,
    previous, results}``."""
    envelope = _object(payload, "list answer")
    if "results" not in envelope:
        raise _invalid("list answer has no 'results'")
    results = envelope["results"]
    if not isinstance(results, list):
        raise _invalid(f"'results' is {type(results).__name__}, expected an array")
    items = tuple(_object(result, "list item") for result in results)
    following = _str(envelope, "next")
    count = envelope.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise _invalid(f"'count' is {type(count).__name__}, expected an integer")
    return Page(items, following or None, count)


def _items(payload: Any, what: str) -> Sequence[Any]:
    """The objects of a POST retrieval (an array) or of a page's ``results``."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, Mapping):
        return page_from(payload).results
    raise _invalid(f"{what} answer is {type(payload).__name__}, not an array or a list envelope")


# -- accounts --------------------------------------------------------------------------------


def _mask(number: str | None) -> str | None:
    digits = "".join(ch for ch in number or "" if ch.isalnum())
    return digits[-4:] or None


def account_from(payload: Any) -> Account:
    """An [`Account`][polysource_belvo.mapping.Account] from one Belvo account object."""
    item = _object(payload, "account")
    account_id = _id(item)
    category = _str(item, "category")
    kind, subtype = _ACCOUNT_KINDS.get(category or "UNCATEGORIZED", ("other", None))
    currency = _str(item, "currency")
    if not currency:
        raise _invalid(f"account {account_id} has no currency")
    balance = item.get("balance")
    balance = _object(balance, "balance") if balance is not None else {}
    institution = item.get("institution")
    institution_name = (
        _str(_object(institution, "institution"), "name") if institution is not None else None
    )
    number = _str(item, "number")
    return Account(
        account_id=account_id,
        name=_str(item, "name") or _str(item, "type") or number or account_id,
        type=kind,
        currency=currency,
        subtype=subtype,
        mask=_mask(number),
        balance_current=_decimal(balance, "current"),
        balance_available=_decimal(balance, "available"),
        institution=institution_name,
    )


def accounts_from(payload: Any) -> tuple[Account, ...]:
    """Accounts from ``POST /api/accounts/``'s array or a page of ``GET /api/accounts/``."""
    return tuple(account_from(item) for item in _items(payload, "accounts"))


# -- transactions ----------------------------------------------------------------------------


def _signed(amount: Decimal, direction: str | None, transaction_id: str) -> Decimal:
    if direction == "OUTFLOW":
        return abs(amount)
    if direction == "INFLOW":
        return -abs(amount)
    if direction is None:
        return amount
    raise _invalid(f"transaction {transaction_id} has unknown type {direction!r}")


def transaction_from(payload: Any) -> Transaction | None:
    """A [`Transaction`][polysource_belvo.mapping.Transaction] from one Belvo transaction object.

    Returns ``None`` for a transaction without an amount (Belvo's ``amount`` is nullable; with
    no amount there is nothing to record).
    """
    item = _object(payload, "transaction")
    transaction_id = _id(item)
    if "amount" not in item:
        raise _invalid(f"transaction {transaction_id} has no 'amount'")
    amount = _decimal(item, "amount")
    if amount is None:
        return None
    account = item.get("account")
    if isinstance(account, str):
        account_id, account_currency = account, None
    else:
        account_item = _object(account, f"account of transaction {transaction_id}")
        account_id, account_currency = _id(account_item), _str(account_item, "currency")
    day = (
        _date(_str(item, "value_date"), "value_date")
        or _date(_str(item, "accounting_date"), "accounting_date")
        or _date(_str(item, "collected_at"), "collected_at")
    )
    if day is None:
        raise _invalid(f"transaction {transaction_id} has no date")
    currency = _str(item, "currency") or account_currency
    if not currency:
        raise _invalid(f"transaction {transaction_id} has no currency")
    merchant = item.get("merchant")
    merchant_name = (
        _str(_object(merchant, "merchant"), "merchant_name") if merchant is not None else None
    )
    return Transaction(
        transaction_id=transaction_id,
        account_id=account_id,
        amount=_signed(amount, _str(item, "type"), transaction_id),
        currency=currency,
        date=day,
        description=_str(item, "description") or "",
        pending=_str(item, "status") == "PENDING",
        merchant=merchant_name or None,
        category=_str(item, "category"),
    )


def transactions_from(payload: Any) -> tuple[Transaction, ...]:
    """Transactions from ``POST /api/transactions/``'s array or a page of the list."""
    out = []
    for item in _items(payload, "transactions"):
        transaction = transaction_from(item)
        if transaction is not None:
            out.append(transaction)
    return tuple(out)


# -- errors ----------------------------------------------------------------------------------


@frozen
class BelvoError:
    """The first error object of a Belvo error body: its ``code``, ``message`` and ``field``."""

    code: str | None = None
    message: str | None = None
    field: str | None = None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]
    return None


def parse_error(body: bytes) -> BelvoError:
    """The first error of a Belvo error body (``[{"code", "message", "request_id", ...}]``).

    Also reads a bare object and Django REST framework's ``{"detail": ...}``; a body that is
    not JSON gives an empty [`BelvoError`][polysource_belvo.mapping.BelvoError].
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return BelvoError()
    if isinstance(data, list):
        data = next((item for item in data if isinstance(item, Mapping)), None)
    if not isinstance(data, Mapping):
        return BelvoError()
    return BelvoError(
        code=_text(data.get("code")),
        message=_text(data.get("message")) or _text(data.get("detail")),
        field=_text(data.get("field")),
    )


def classify_error(status: int, error: BelvoError) -> tuple[ErrorCategory, bool]:
    """The taxonomy category of a failed answer, and whether it is ``unsupported``.

    Belvo's error code decides when it is known; otherwise the status: 428 (Belvo asks for
    the end user's MFA token) is ``auth``, any other follows
    [`polysource.http.STATUS_CATEGORIES`][polysource.http.STATUS_CATEGORIES].
    """
    code = error.code
    if code in _UNSUPPORTED_CODES:
        return ErrorCategory.INVALID_REQUEST, True
    if code is not None and code in _CODE_CATEGORIES:
        return _CODE_CATEGORIES[code], False
    if status == 428:
        return ErrorCategory.AUTH, False
    return classify_status(status) or ErrorCategory.INVALID_RESPONSE, False
