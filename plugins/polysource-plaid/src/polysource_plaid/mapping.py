"""Pure mapping of Plaid's wire JSON to polysource's schemas and error taxonomy (no I/O).

Every function takes decoded JSON and returns a schema instance; a payload without the fields
a schema needs, or with fields of the wrong type, raises
[`ProviderError`][polysource.errors.ProviderError] with category ``invalid_response``. Tokens found
in
an answer are wrapped with `Secret.of <polysource.config.Secret.of>()` at once.

Plaid's error object (``error_type``, ``error_code``, ``error_message``, ...) becomes a
[`PlaidApiError`][polysource_plaid.mapping.PlaidApiError], a
[`ProviderError`][polysource.errors.ProviderError] that also carries the
codes, Plaid's ``request_id`` and whether the end user must re-link.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeGuard

import orjson
from attrs import frozen

from polysource.config import Secret
from polysource.datasets import Account, Accounts, Transaction
from polysource.errors import ErrorCategory, ProviderError
from polysource.http import classify_status
from polysource.operations import Link
from polysource.redaction import MASK, redact

__all__ = [
    "MUTATION_DURING_PAGINATION",
    "PROVIDER",
    "PlaidApiError",
    "SyncPage",
    "account_from",
    "accounts_from",
    "classify_error",
    "error_from_body",
    "exchanged_link",
    "link_token_link",
    "public_token_from",
    "sync_page_from",
    "transaction_from",
]

PROVIDER: Final = "plaid"
MUTATION_DURING_PAGINATION: Final = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"

_DETAIL_LIMIT: Final = 200
_TOKEN: Final = re.compile(r"\b(?:access|public|link)-(?:sandbox|production|development)-[\w-]+")
# Plaid's error_type and error_code are public names from its documentation
# (ITEM_LOGIN_REQUIRED); request_id is an opaque reference for Plaid's support, not a
# credential. Each is shown only in its documented shape, so a body that echoes a request
# (a proxy, a misbehaving server) cannot put a token into a message through them.
_CODE: Final = re.compile(r"[A-Z0-9_]{1,64}")
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9]{1,64}")

_AUTH_CODES: Final = frozenset(
    {"INVALID_API_KEYS", "UNAUTHORIZED_ENVIRONMENT", "INVALID_ACCESS_TOKEN"}
)
# Item errors that only the end user can fix, by going through Link again (update mode).
_RELINK_CODES: Final = frozenset(
    {
        "ITEM_LOGIN_REQUIRED",
        "INVALID_CREDENTIALS",
        "INVALID_MFA",
        "ITEM_LOCKED",
        "USER_SETUP_REQUIRED",
        "ACCESS_NOT_GRANTED",
        "ITEM_NOT_FOUND",
    }
)
_TRANSIENT_CODES: Final = frozenset({"PRODUCT_NOT_READY", MUTATION_DURING_PAGINATION})
_TRANSIENT_TYPES: Final = frozenset({"API_ERROR", "INSTITUTION_ERROR"})


class PlaidApiError(ProviderError):
    """A failure Plaid described with its error object.

    Args:
        message: What went wrong, without secrets.
        error_type: Plaid's broad ``error_type`` (``ITEM_ERROR``, ``INVALID_INPUT``, ...).
        error_code: Plaid's specific ``error_code`` (``ITEM_LOGIN_REQUIRED``, ...).
        request_id: Plaid's id of the failed request, for its support.
        needs_relink: The end user must go through Link again before reads work.
        **kwargs: The [`ProviderError`][polysource.errors.ProviderError] fields.
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        error_code: str,
        request_id: str | None = None,
        needs_relink: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.error_type = error_type
        self.error_code = error_code
        self.request_id = request_id
        self.needs_relink = needs_relink


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
        raise _invalid(f"{what}: field {name!r} is {shown}, expected an array")
    return value


def _str(item: Mapping[str, Any], name: str, what: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{what}: field {name!r} is {type(value).__name__}, expected a string")
    return value


def _required_str(item: Mapping[str, Any], name: str, what: str) -> str:
    value = _str(item, name, what)
    if not value:
        raise _invalid(f"{what}: field {name!r} is missing or empty")
    return value


def _bool(item: Mapping[str, Any], name: str, what: str) -> bool:
    value = item.get(name)
    if not isinstance(value, bool):
        shown = "missing" if value is None else type(value).__name__
        raise _invalid(f"{what}: field {name!r} is {shown}, expected a boolean")
    return value


def _decimal(item: Mapping[str, Any], name: str, what: str) -> Decimal | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{what}: field {name!r} is {type(value).__name__}, expected a number")
    try:
        number = Decimal(str(value))  # str() keeps the decimal digits Plaid sent (2307.21)
    except InvalidOperation as exc:
        raise _invalid(f"{what}: field {name!r} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise _invalid(f"{what}: field {name!r} is not finite")
    return number


def _date(item: Mapping[str, Any], name: str, what: str) -> dt.date:
    text = _required_str(item, name, what)
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise _invalid(f"{what}: field {name!r} is not an ISO date: {text!r}") from exc


def _currency(item: Mapping[str, Any], what: str) -> str:
    """The ISO currency, else Plaid's unofficial one (crypto); exactly one is set."""
    code = _str(item, "iso_currency_code", what) or _str(item, "unofficial_currency_code", what)
    if not code:
        raise _invalid(f"{what}: both iso_currency_code and unofficial_currency_code are null")
    return code


# -- accounts ------------------------------------------------------------------------------------


def account_from(item: Any, institution: str | None = None) -> Account:
    """An [`Account`][polysource_plaid.mapping.Account] from one Plaid ``AccountBase`` object."""
    item = _object(item, "an account")
    account_id = _required_str(item, "account_id", "an account")
    what = f"account {account_id!r}"
    balances = _object(item.get("balances"), f"{what}: balances")
    return Account(
        account_id=account_id,
        name=_str(item, "name", what) or _str(item, "official_name", what) or account_id,
        type=_required_str(item, "type", what),
        currency=_currency(balances, what),
        subtype=_str(item, "subtype", what),
        mask=_str(item, "mask", what),
        balance_current=_decimal(balances, "current", what),
        balance_available=_decimal(balances, "available", what),
        institution=institution,
    )


def accounts_from(payload: Any, institution: str | None = None) -> Accounts:
    """[`Accounts`][polysource_plaid.mapping.Accounts] from a ``/accounts/get`` answer.

    Args:
        payload: The decoded answer.
        institution: The bank to record when the answer's ``item`` does not name one.
    """
    payload = _object(payload, "the /accounts/get answer")
    item = payload.get("item")
    if isinstance(item, Mapping):
        institution = _str(item, "institution_id", "the item") or institution
    items = _list(payload, "accounts", "the /accounts/get answer")
    accounts = tuple(account_from(a, institution) for a in items)
    # mypy cannot type the schema's `converter=tuple` (a generic class) and rejects any argument.
    return Accounts(accounts=accounts)


# -- transactions --------------------------------------------------------------------------------


def _category(item: Mapping[str, Any], what: str) -> str | None:
    """Plaid's personal finance category (primary), else its legacy category path."""
    personal = item.get("personal_finance_category")
    if isinstance(personal, Mapping):
        primary = _str(personal, "primary", what)
        if primary:
            return primary
    legacy = item.get("category")
    if isinstance(legacy, list) and legacy and all(isinstance(c, str) for c in legacy):
        return " > ".join(legacy)
    return None


def transaction_from(item: Any) -> Transaction:
    """A [`Transaction`][polysource_plaid.mapping.Transaction] from one Plaid ``Transaction``
    object.

    Plaid's sign convention is polysource's: a positive amount is money out of the account.
    """
    item = _object(item, "a transaction")
    transaction_id = _required_str(item, "transaction_id", "a transaction")
    what = f"transaction {transaction_id!r}"
    amount = _decimal(item, "amount", what)
    if amount is None:
        raise _invalid(f"{what}: field 'amount' is missing")
    merchant = _str(item, "merchant_name", what)
    description = (
        _str(item, "name", what) or merchant or _str(item, "original_description", what) or ""
    )
    return Transaction(
        transaction_id=transaction_id,
        account_id=_required_str(item, "account_id", what),
        amount=amount,
        currency=_currency(item, what),
        date=_date(item, "date", what),
        description=description,
        pending=_bool(item, "pending", what),
        merchant=merchant,
        category=_category(item, what),
    )


@frozen
class SyncPage:
    """One ``/transactions/sync`` answer, mapped.

    Attributes:
        added: New transactions.
        modified: Transactions that changed (their new state).
        removed: Ids of transactions that no longer exist.
        next_cursor: Where the next page starts (``""`` while Plaid is not ready yet).
        has_more: Whether another page follows at once.
        status: Plaid's ``transactions_update_status``.
    """

    added: tuple[Transaction, ...]
    modified: tuple[Transaction, ...]
    removed: tuple[str, ...]
    next_cursor: str
    has_more: bool
    status: str | None = None


def _removed_id(item: Any) -> str:
    return _required_str(_object(item, "a removed transaction"), "transaction_id", "a removal")


def sync_page_from(payload: Any) -> SyncPage:
    """A [`SyncPage`][polysource_plaid.mapping.SyncPage] from a ``/transactions/sync`` answer."""
    payload = _object(payload, "the /transactions/sync answer")
    what = "the /transactions/sync answer"
    cursor = payload.get("next_cursor")
    if not isinstance(cursor, str):
        raise _invalid(f"{what}: field 'next_cursor' is missing or not a string")
    return SyncPage(
        added=tuple(transaction_from(t) for t in _list(payload, "added", what)),
        modified=tuple(transaction_from(t) for t in _list(payload, "modified", what)),
        removed=tuple(_removed_id(r) for r in _list(payload, "removed", what)),
        next_cursor=cursor,
        has_more=_bool(payload, "has_more", what),
        status=_str(payload, "transactions_update_status", what),
    )


# -- links ---------------------------------------------------------------------------------------


def link_token_link(payload: Any) -> Link:
    """A pending [`Link`][polysource_plaid.mapping.Link] holding the ``link_token`` of a
    ``/link/token/create`` answer."""
    payload = _object(payload, "the /link/token/create answer")
    token = _required_str(payload, "link_token", "the /link/token/create answer")
    return Link(provider=PROVIDER, status="pending", link_token=Secret.of(token))


def public_token_from(payload: Any) -> Secret:
    """The ``public_token`` of a ``/sandbox/public_token/create`` answer, masked."""
    payload = _object(payload, "the /sandbox/public_token/create answer")
    return Secret.of(_required_str(payload, "public_token", "the public token answer"))


def exchanged_link(payload: Any, institution: str | None = None) -> Link:
    """An active [`Link`][polysource_plaid.mapping.Link] from an ``/item/public_token/exchange``
    answer."""
    what = "the /item/public_token/exchange answer"
    payload = _object(payload, what)
    return Link(
        provider=PROVIDER,
        link_id=_required_str(payload, "item_id", what),
        status="active",
        access_token=Secret.of(_required_str(payload, "access_token", what)),
        institution=institution,
    )


# -- errors --------------------------------------------------------------------------------------


def classify_error(error_type: str, error_code: str, status: int) -> ErrorCategory:
    """The taxonomy category of a Plaid error (PROVIDERS.md, section 3).

    Plaid asks clients to branch on ``error_code`` rather than on the status; the status only
    decides codes the table does not name. A 404 is always ``not_found`` (an unknown path).
    """
    if status == 404:
        return ErrorCategory.NOT_FOUND
    if error_code in _AUTH_CODES or error_code in _RELINK_CODES:
        return ErrorCategory.AUTH
    if error_code == "INVALID_ACCOUNT_ID":
        return ErrorCategory.NOT_FOUND
    if error_type == "RATE_LIMIT_EXCEEDED" or status == 429:
        return ErrorCategory.RATE_LIMIT
    if error_code in _TRANSIENT_CODES or error_type in _TRANSIENT_TYPES:
        return ErrorCategory.PROVIDER_DOWN
    if error_type in {"INVALID_REQUEST", "INVALID_INPUT"}:
        return ErrorCategory.INVALID_REQUEST
    return classify_status(status) or ErrorCategory.INVALID_RESPONSE


def _scrub(text: str, secrets: Iterable[str]) -> str:
    # Any Plaid token, even one this call did not send, then every encoding of the secrets.
    return redact(_TOKEN.sub(MASK, text), secrets)


def _is_code(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


def error_from_body(
    body: bytes,
    *,
    status: int,
    where: str,
    retry_after: float | None = None,
    secrets: Iterable[str] = (),
) -> PlaidApiError | None:
    """A [`PlaidApiError`][polysource_plaid.mapping.PlaidApiError] from a failing answer's body, if
    the body is Plaid's error object.

    Args:
        body: The answer's bytes.
        status: The HTTP status.
        where: Method and redacted URL, for the message (``POST https://.../accounts/get``).
        retry_after: Seconds from a ``Retry-After`` header, if any.
        secrets: Values that must never appear in the message (tokens, keys).

    Returns:
        The error, or ``None`` when the body is not an object with ``error_type`` and
        ``error_code`` strings (a proxy's page, say).
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    error_type, error_code = data.get("error_type"), data.get("error_code")
    if not _is_code(error_type) or not _is_code(error_code):
        return None
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        request_id = None
    detail = data.get("error_message") if isinstance(data.get("error_message"), str) else ""
    message = f"{where} answered HTTP {status}: {error_type}/{error_code}"
    if detail:
        message += f": {_scrub(detail.strip(), secrets)[:_DETAIL_LIMIT]}"
    if request_id:
        message += f" (request_id {request_id})"
    message = _scrub(message, secrets)
    return PlaidApiError(
        message,
        provider=PROVIDER,
        category=classify_error(error_type, error_code, status),
        retry_after=retry_after,
        status=status,
        error_type=error_type,
        error_code=error_code,
        request_id=request_id,
        needs_relink=error_code in _RELINK_CODES,
    )
