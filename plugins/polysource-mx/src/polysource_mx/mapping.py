"""Pure mapping of MX Platform API wire JSON (v20111101) to polysource's schemas (no I/O).

Every function takes decoded JSON and returns a schema instance or a small value; a payload
without the fields it needs, or with fields of the wrong type, raises
[`ProviderError`][polysource.errors.ProviderError] with category ``invalid_response``.

MX amounts are always positive, with the direction in ``type``: a ``DEBIT`` (money out of the
account) becomes a positive amount, a ``CREDIT`` (money in) a negative one, as
[`Transaction`][polysource.datasets.Transaction] wants.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import orjson
from attrs import frozen

from polysource.config import Secret
from polysource.datasets import Account, Accounts, Transaction, Transactions
from polysource.errors import ErrorCategory, ProviderError
from polysource.operations import Link

__all__ = [
    "ACTIVE_STATUSES",
    "PROVIDER",
    "Credential",
    "Member",
    "Page",
    "account_from",
    "accounts_from",
    "accounts_value",
    "credentials_from",
    "error_detail",
    "latest_date",
    "link_from",
    "member_from",
    "member_list_from",
    "page_from",
    "transaction_from",
    "transactions_from",
    "transactions_value",
    "user_guid_from",
    "user_list_from",
]

PROVIDER: Final = "mx"

ACTIVE_STATUSES: Final = frozenset({"CONNECTED"})
"""Member ``connection_status`` values that make a link ``active``; every other is ``pending``."""

_DEFAULT_CURRENCY: Final = "USD"
_ACCOUNT_KINDS: Final[Mapping[str, str]] = {
    "CHECKING": "depository",
    "SAVINGS": "depository",
    "MONEY_MARKET": "depository",
    "CD": "depository",
    "CASH": "depository",
    "PREPAID": "depository",
    "CHECKING_LINE_OF_CREDIT": "credit",
    "CREDIT_CARD": "credit",
    "LINE_OF_CREDIT": "credit",
    "LOAN": "loan",
    "MORTGAGE": "loan",
    "INVESTMENT": "investment",
    "INSURANCE": "other",
    "PROPERTY": "other",
}


def _invalid(message: str) -> ProviderError:
    return ProviderError(message, provider=PROVIDER, category=ErrorCategory.INVALID_RESPONSE)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(f"{what} is {type(value).__name__}, expected an object")
    return value


def _list(item: Mapping[str, Any], name: str, what: str) -> Sequence[Any]:
    value = item.get(name)
    if not isinstance(value, list):
        shown = "missing" if value is None else type(value).__name__
        raise _invalid(f"{what}: {name!r} is {shown}, expected an array")
    return value


def _str(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"field {name!r} is {type(value).__name__}, expected a string")
    return value


def _required_str(item: Mapping[str, Any], name: str, what: str) -> str:
    value = _str(item, name)
    if not value:
        raise _invalid(f"{what} has no {name!r}")
    return value


def _int(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"field {name!r} is {type(value).__name__}, expected an integer")
    return value


def _decimal(item: Mapping[str, Any], name: str) -> Decimal | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"field {name!r} is {type(value).__name__}, expected a number")
    # repr gives the shortest text that round-trips, so 61.11 stays 61.11, not 61.1099999...
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _date(item: Mapping[str, Any], name: str, what: str) -> dt.date:
    text = _required_str(item, name, what)
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise _invalid(f"{what}: {name!r} is not a YYYY-MM-DD date: {text!r}") from exc


# -- users, members, credentials -----------------------------------------------------------------


def user_guid_from(payload: Mapping[str, Any]) -> str:
    """The user's guid from ``POST /users`` or ``GET /users/{guid}`` (``{"user": {...}}``)."""
    user = _object(_object(payload, "the answer").get("user"), "'user'")
    return _required_str(user, "guid", "the user")


def user_list_from(payload: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """``(guid, partner id)`` of each user in ``GET /users``."""
    out = []
    for element in _list(_object(payload, "the answer"), "users", "the user list"):
        user = _object(element, "a user")
        out.append((_required_str(user, "guid", "a user"), _str(user, "id")))
    return out


@frozen
class Member:
    """What the provider needs of an MX member."""

    guid: str
    user_guid: str | None
    partner_id: str | None
    institution_code: str | None
    connection_status: str | None


def _member(value: Any) -> Member:
    member = _object(value, "'member'")
    return Member(
        guid=_required_str(member, "guid", "the member"),
        user_guid=_str(member, "user_guid"),
        partner_id=_str(member, "id"),
        institution_code=_str(member, "institution_code"),
        connection_status=_str(member, "connection_status"),
    )


def member_from(payload: Mapping[str, Any]) -> Member:
    """The member of ``POST``/``GET``/``PUT /users/{user}/members/...`` (``{"member": ...}``)."""
    return _member(_object(payload, "the answer").get("member"))


def member_list_from(payload: Mapping[str, Any]) -> list[Member]:
    """The members of ``GET /users/{user}/members``."""
    return [_member(m) for m in _list(_object(payload, "the answer"), "members", "member list")]


def link_from(member: Member, user_guid: str) -> Link:
    """The [`Link`][polysource_mx.mapping.Link] of a member: ``active`` once ``CONNECTED``, else
    ``pending``.

    The access token is the MX user's guid, which every read needs; the link id is the
    member's guid.
    """
    status = "active" if member.connection_status in ACTIVE_STATUSES else "pending"
    return Link(
        provider=PROVIDER,
        link_id=member.guid,
        status=status,
        access_token=Secret.of(user_guid),
        institution=member.institution_code,
    )


@frozen
class Credential:
    """One credential field an institution asks for (``GET /institutions/{code}/credentials``)."""

    guid: str
    field_name: str | None
    field_type: str | None
    display_order: int

    @property
    def is_secret(self) -> bool:
        """Whether the field holds a password (typed ``PASSWORD``)."""
        return (self.field_type or "").upper() == "PASSWORD" or (
            self.field_name or ""
        ).upper() == "PASSWORD"


def credentials_from(payload: Mapping[str, Any]) -> list[Credential]:
    """The credential fields of an institution, in display order."""
    out = []
    for index, element in enumerate(
        _list(_object(payload, "the answer"), "credentials", "the credential list")
    ):
        item = _object(element, "a credential")
        order = _int(item, "display_order")
        out.append(
            Credential(
                guid=_required_str(item, "guid", "a credential"),
                field_name=_str(item, "field_name"),
                field_type=_str(item, "field_type"),
                display_order=index if order is None else order,
            )
        )
    out.sort(key=lambda c: c.display_order)
    return out


# -- pagination ----------------------------------------------------------------------------------


@frozen
class Page:
    """The ``pagination`` object of a list answer."""

    current_page: int
    total_pages: int
    total_entries: int | None = None
    per_page: int | None = None

    @property
    def is_last(self) -> bool:
        """Whether no page follows this one."""
        return self.current_page >= self.total_pages


def page_from(payload: Mapping[str, Any]) -> Page:
    """The pagination of a list answer; a missing object or number is ``invalid_response``."""
    pagination = _object(_object(payload, "the answer").get("pagination"), "'pagination'")
    current = _int(pagination, "current_page")
    total = _int(pagination, "total_pages")
    if current is None or total is None:
        raise _invalid("'pagination' lacks current_page or total_pages")
    return Page(
        current_page=current,
        total_pages=total,
        total_entries=_int(pagination, "total_entries"),
        per_page=_int(pagination, "per_page"),
    )


# -- accounts and transactions -------------------------------------------------------------------


def account_from(item: Mapping[str, Any]) -> Account:
    """An [`Account`][polysource_mx.mapping.Account] from one element of ``accounts``.

    ``type`` is the provider-neutral kind (``depository``, ``credit``, ``loan``,
    ``investment``, ``other``); ``subtype`` is MX's own subtype when it has one, else MX's
    type in lower case (``checking``, ``credit_card``).
    """
    item = _object(item, "an account")
    mx_type = (_str(item, "type") or "ANY").upper()
    mx_subtype = _str(item, "subtype")
    subtype = mx_subtype if mx_subtype and mx_subtype.upper() != "NONE" else mx_type
    number = _str(item, "account_number")
    return Account(
        account_id=_required_str(item, "guid", "an account"),
        name=_str(item, "name") or _str(item, "nickname") or "",
        type=_ACCOUNT_KINDS.get(mx_type, "other"),
        currency=_str(item, "currency_code") or _DEFAULT_CURRENCY,
        subtype=subtype.lower(),
        mask=number[-4:] if number else None,
        balance_current=_decimal(item, "balance"),
        balance_available=_decimal(item, "available_balance"),
        institution=_str(item, "institution_code"),
    )


def accounts_from(payload: Mapping[str, Any]) -> list[Account]:
    """The accounts of one page of ``GET .../accounts``."""
    items = _list(_object(payload, "the answer"), "accounts", "the account list")
    return [account_from(item) for item in items]


def transaction_from(item: Mapping[str, Any]) -> Transaction:
    """A [`Transaction`][polysource_mx.mapping.Transaction] from one element of ``transactions``."""
    item = _object(item, "a transaction")
    guid = _required_str(item, "guid", "a transaction")
    amount = _decimal(item, "amount")
    if amount is None:
        raise _invalid(f"transaction {guid!r} has no amount")
    kind = (_str(item, "type") or "").upper()
    if kind not in ("DEBIT", "CREDIT"):
        raise _invalid(f"transaction {guid!r} has type {kind or None!r}, not DEBIT or CREDIT")
    return Transaction(
        transaction_id=guid,
        account_id=_required_str(item, "account_guid", f"transaction {guid!r}"),
        amount=amount if kind == "DEBIT" else -amount,
        currency=_str(item, "currency_code") or _DEFAULT_CURRENCY,
        date=_date(item, "date", f"transaction {guid!r}"),
        description=_str(item, "description") or _str(item, "original_description") or "",
        pending=(_str(item, "status") or "").upper() == "PENDING",
        category=_str(item, "category") or _str(item, "top_level_category"),
    )


def transactions_from(payload: Mapping[str, Any]) -> list[Transaction]:
    """The transactions of one page of ``GET .../transactions``."""
    items = _list(_object(payload, "the answer"), "transactions", "the transaction list")
    return [transaction_from(item) for item in items]


def accounts_value(accounts: Iterable[Account]) -> Accounts:
    """The [`Accounts`][polysource_mx.mapping.Accounts] dataset value."""
    # Core's schemas are moving from `converter=tuple` (which mypy cannot type, so it rejects any
    # argument) to typed converters; the ignore covers both until that change lands.
    return Accounts(tuple(accounts))  # type: ignore[arg-type, unused-ignore]


def transactions_value(
    transactions: Iterable[Transaction], *, cursor: str | None = None
) -> Transactions:
    """The [`Transactions`][polysource_mx.mapping.Transactions] value; MX lists no removed
    transactions."""
    return Transactions(tuple(transactions), cursor=cursor)  # type: ignore[arg-type, unused-ignore]


def latest_date(transactions: Iterable[Transaction]) -> dt.date | None:
    """The newest transaction date, or ``None`` when there is none."""
    return max((t.date for t in transactions), default=None)


# -- errors --------------------------------------------------------------------------------------


def error_detail(body: bytes) -> str | None:
    """MX's error message: ``{"error": {"message": ...}}``, or the older ``{"error": "..."}``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return error if isinstance(error, str) else None
