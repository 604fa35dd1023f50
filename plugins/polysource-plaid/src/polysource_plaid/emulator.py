"""A local emulator of Plaid's API as it behaves in Sandbox, with fault injection.

It serves the paths, request validation, response shapes and error objects of the real API
closely enough for the official ``plaid-python`` SDK, with data generated from
``Faults.seed`` (see [`polysource_plaid.sandbox`][polysource_plaid.sandbox]). State (link tokens,
public tokens,
items and their transaction logs) lives in the application, so every app starts empty except
for the items passed as ``items``.

Paths (all ``POST`` with a JSON object body):

- ``/link/token/create``, ``/item/public_token/exchange``, ``/accounts/get``,
  ``/transactions/sync``, ``/transactions/refresh``;
- Sandbox helpers: ``/sandbox/public_token/create`` (``options.override_password`` of the form
  ``error_<ERROR_CODE>`` fails with that error, as Sandbox's test credentials do),
  ``/sandbox/item/reset_login`` (the item then fails with ``ITEM_LOGIN_REQUIRED``),
  ``/sandbox/transactions/create``;
- the control endpoints of [`polysource.emulation`][polysource.emulation].

Credentials are accepted as the headers ``PLAID-CLIENT-ID`` / ``PLAID-SECRET`` or as the body
fields ``client_id`` / ``secret``; any non-empty pair passes unless ``credentials`` is given.
A ``/transactions/sync`` cursor issued part-way through a paging run is refused with
``TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION`` once the item's data has changed since.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson
from aiohttp import web
from attrs import define, field

from polysource.emulation import Faults, emulator_app, json_response, stable_random
from polysource_plaid import sandbox
from polysource_plaid.sandbox import INSTITUTIONS, Item

__all__ = ["ERRORS", "create_app"]

ERRORS: Final[dict[str, tuple[str, int, str]]] = {
    "MISSING_FIELDS": ("INVALID_REQUEST", 400, "the following required fields are missing: {}"),
    "UNKNOWN_FIELDS": (
        "INVALID_REQUEST", 400, "the following fields are not recognized by this endpoint: {}"
    ),
    "INVALID_FIELD": ("INVALID_REQUEST", 400, "{}"),
    "INVALID_BODY": ("INVALID_REQUEST", 400, "{}"),
    "INVALID_API_KEYS": ("INVALID_INPUT", 400, "invalid client_id or secret provided"),
    "UNAUTHORIZED_ENVIRONMENT": (
        "INVALID_INPUT", 400, "you are not authorized to create items for this environment"
    ),
    "INVALID_ACCESS_TOKEN": ("INVALID_INPUT", 400, "could not find matching access token"),
    "INVALID_PUBLIC_TOKEN": ("INVALID_INPUT", 400, "could not find matching public token"),
    "INVALID_ACCOUNT_ID": ("INVALID_INPUT", 400, "one or more of the account IDs is invalid"),
    "INVALID_INSTITUTION": ("INVALID_INPUT", 400, "invalid institution_id provided"),
    "ITEM_LOGIN_REQUIRED": (
        "ITEM_ERROR", 400,
        "the login details of this item have changed (credentials, MFA, or required user "
        "action) and a user login is required to update this information. use Link's update "
        "mode to restore the item to a good state",
    ),
    "INVALID_CREDENTIALS": (
        "ITEM_ERROR", 400, "the provided credentials were not correct. Please try again."
    ),
    "INVALID_MFA": ("ITEM_ERROR", 400, "the provided MFA responses were not correct"),
    "ITEM_LOCKED": (
        "ITEM_ERROR", 400, "the account is locked. prompt the user to visit the institution's site"
    ),
    "PRODUCT_NOT_READY": (
        "ITEM_ERROR", 400,
        "the requested product is not yet ready. please provide a webhook or try the request "
        "again later",
    ),
    "INSTITUTION_DOWN": (
        "INSTITUTION_ERROR", 400,
        "this institution is not currently responding to this request. please try again soon",
    ),
    "INSTITUTION_NOT_RESPONDING": (
        "INSTITUTION_ERROR", 400,
        "this institution is not currently responding to this request. please try again soon",
    ),
    "RATE_LIMIT": ("RATE_LIMIT_EXCEEDED", 429, "rate limit exceeded"),
    "TRANSACTIONS_SYNC_LIMIT": (
        "RATE_LIMIT_EXCEEDED", 429,
        "rate limit exceeded for attempts to access this item. please try again later",
    ),
    "INTERNAL_SERVER_ERROR": ("API_ERROR", 500, "an unexpected error occurred"),
    "PLANNED_MAINTENANCE": (
        "API_ERROR", 503, "the Plaid API is temporarily unavailable due to planned maintenance"
    ),
    "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION": (
        "TRANSACTIONS_ERROR", 400,
        "Underlying transaction data changed since last page was fetched. Please restart "
        "pagination from last update.",
    ),
}  # fmt: skip
"""Error code to (``error_type``, HTTP status, ``error_message``) as the emulator sends them."""

_PRODUCTS: Final = frozenset(
    {
        "assets", "auth", "balance", "identity", "investments", "liabilities",
        "payment_initiation", "transactions", "credit_details", "income", "income_verification",
        "standing_orders", "transfer", "employment", "recurring_transactions", "signal",
        "statements",
    }
)  # fmt: skip
_COUNTRIES: Final = frozenset(
    {"US", "GB", "ES", "NL", "FR", "IE", "CA", "DE", "IT", "PL", "DK", "NO", "SE", "EE", "LT",
     "LV", "PT", "BE", "AT", "FI"}
)  # fmt: skip
_LANGUAGES: Final = frozenset(
    {"da", "nl", "en", "et", "fr", "de", "hi", "it", "lv", "lt", "no", "pl", "pt", "ro", "es",
     "sv", "vi"}
)  # fmt: skip
_DOCS: Final = "https://plaid.com/docs/errors/"
_AUTH_FIELDS: Final = frozenset({"client_id", "secret"})
_LINK_TOKEN_LIFETIME: Final = dt.timedelta(hours=4)
_MAX_COUNT: Final = 500
_MAX_CUSTOM: Final = 10


class _Reject(Exception):
    """A request Plaid refuses: the error code and the message's detail."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


@define
class _Plaid:
    """The emulator's own state: tokens and items created by calls."""

    seed: int
    clock: Callable[[], float]
    credentials: Mapping[str, str] | None
    items: dict[str, Item] = field(factory=dict)  # by access token
    public_tokens: dict[str, Item] = field(factory=dict)
    link_tokens: dict[str, str] = field(factory=dict)  # link token -> client_user_id
    counter: itertools.count[int] = field(factory=itertools.count)

    def rng(self, purpose: str) -> Any:
        return stable_random(self.seed, purpose, next(self.counter))

    def request_id(self) -> str:
        return sandbox.random_id(self.rng("request"), 15)

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).date()


_PLAID: Final = web.AppKey("plaid_emulator", _Plaid)


def _error_object(
    code: str, request_id: str, detail: str = "", *, status: int | None = None
) -> tuple[int, dict[str, Any]]:
    error_type, default_status, template = ERRORS[code]
    message = template.format(detail) if "{}" in template else template
    chosen = status or default_status
    return chosen, {
        "error_type": error_type,
        "error_code": code,
        "error_code_reason": None,
        "error_message": message,
        "display_message": None,
        "request_id": request_id,
        "causes": [],
        "status": chosen,
        "documentation_url": f"{_DOCS}{error_type.lower().replace('_', '-')}/",
        "suggested_action": None,
    }


def _error_body_for(state: _Plaid) -> Callable[[int, str], tuple[str, bytes]]:
    def error_body(status: int, message: str) -> tuple[str, bytes]:
        if status == 429:
            code = "RATE_LIMIT"
        elif status == 503:
            code = "PLANNED_MAINTENANCE"
        elif status >= 500:
            code = "INTERNAL_SERVER_ERROR"
        else:
            code = "INVALID_BODY"
        _, body = _error_object(code, state.request_id(), message, status=status)
        return "application/json", orjson.dumps(body)

    return error_body


# -- request validation --------------------------------------------------------------------------


def _check_fields(
    body: Mapping[str, Any], required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    unknown = sorted(set(body) - set(required) - set(optional) - _AUTH_FIELDS)
    if unknown:
        raise _Reject("UNKNOWN_FIELDS", ", ".join(unknown))
    missing = [name for name in required if body.get(name) in (None, "", [])]
    if missing:
        raise _Reject("MISSING_FIELDS", ", ".join(missing))


def _string(body: Mapping[str, Any], name: str, *, default: str | None = None) -> str | None:
    value = body.get(name, default)
    if value is not None and not isinstance(value, str):
        raise _Reject("INVALID_FIELD", f"{name} must be a string")
    return value


def _strings(
    body: Mapping[str, Any], name: str, allowed: frozenset[str] | None = None
) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Reject("INVALID_FIELD", f"{name} must be an array of strings")
    if allowed is not None:
        bad = [v for v in value if v not in allowed]
        if bad:
            raise _Reject("INVALID_FIELD", f"{name} contains unsupported values: {', '.join(bad)}")
    return value


def _options(body: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise _Reject("INVALID_FIELD", "options must be an object")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise _Reject("UNKNOWN_FIELDS", ", ".join(f"options.{u}" for u in unknown))
    return options


def _item(state: _Plaid, body: Mapping[str, Any], *, usable: bool = True) -> Item:
    item = state.items.get(_string(body, "access_token") or "")
    if item is None:
        raise _Reject("INVALID_ACCESS_TOKEN")
    if usable and item.login_required:
        raise _Reject("ITEM_LOGIN_REQUIRED")
    return item


def _authenticate(state: _Plaid, request: web.Request, body: Mapping[str, Any]) -> None:
    client_id = request.headers.get("PLAID-CLIENT-ID") or body.get("client_id")
    secret = request.headers.get("PLAID-SECRET") or body.get("secret")
    missing = [n for n, v in (("client_id", client_id), ("secret", secret)) if not v]
    if missing:
        raise _Reject("MISSING_FIELDS", ", ".join(missing))
    if not isinstance(client_id, str) or not isinstance(secret, str):
        raise _Reject("INVALID_FIELD", "client_id and secret must be strings")
    if state.credentials is not None and state.credentials.get(client_id) != secret:
        raise _Reject("INVALID_API_KEYS")


# -- handlers ------------------------------------------------------------------------------------


def _link_token_create(state: _Plaid, body: dict[str, Any]) -> dict[str, Any]:
    _check_fields(
        body,
        ("client_name", "language", "country_codes", "user"),
        ("products", "webhook", "redirect_uri", "access_token", "link_customization_name",
         "android_package_name", "institution_id", "account_filters", "transactions",
         "required_if_supported_products", "optional_products", "additional_consented_products",
         "user_token", "update", "hosted_link"),
    )  # fmt: skip
    _string(body, "client_name")
    if _string(body, "language") not in _LANGUAGES:
        raise _Reject("INVALID_FIELD", "language must be a supported language code")
    if not _strings(body, "country_codes", _COUNTRIES):
        raise _Reject("INVALID_FIELD", "country_codes must not be empty")
    user = body["user"]
    if not isinstance(user, dict) or not user.get("client_user_id"):
        raise _Reject("MISSING_FIELDS", "user.client_user_id")
    if not isinstance(user["client_user_id"], str):
        raise _Reject("INVALID_FIELD", "user.client_user_id must be a string")
    _strings(body, "products", _PRODUCTS)
    if body.get("access_token") is not None:
        _item(state, body, usable=False)  # update mode: the item must exist
    link_token = sandbox.token(state.rng("link"), "link")
    state.link_tokens[link_token] = user["client_user_id"]
    expiration = dt.datetime.fromtimestamp(state.clock(), dt.UTC) + _LINK_TOKEN_LIFETIME
    return {
        "link_token": link_token,
        "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "request_id": state.request_id(),
    }


def _sandbox_public_token_create(state: _Plaid, body: dict[str, Any]) -> dict[str, Any]:
    _check_fields(body, ("institution_id", "initial_products"), ("options", "user_token"))
    institution = _string(body, "institution_id") or ""
    if institution not in INSTITUTIONS:
        raise _Reject("INVALID_INSTITUTION")
    products = _strings(body, "initial_products", _PRODUCTS)
    options = _options(
        body,
        (
            "webhook",
            "override_username",
            "override_password",
            "transactions",
            "income_verification",
        ),
    )
    password = _string(options, "override_password") or ""
    if password.startswith("error_"):
        code = password.removeprefix("error_")
        if code not in ERRORS:
            raise _Reject("INVALID_FIELD", f"unknown Sandbox error code {code!r}")
        raise _Reject(code)
    item_id = sandbox.random_id(state.rng("item"))
    item = sandbox.build_item(
        state.seed, item_id, institution, products, state.today(), _string(options, "webhook")
    )
    public_token = sandbox.token(state.rng("public"), "public")
    state.public_tokens[public_token] = item
    return {"public_token": public_token, "request_id": state.request_id()}


def _item_public_token_exchange(state: _Plaid, body: dict[str, Any]) -> dict[str, Any]:
    _check_fields(body, ("public_token",), ())
    item = state.public_tokens.pop(_string(body, "public_token") or "", None)
    if item is None:  # unknown, or already exchanged: public tokens are single-use
        raise _Reject("INVALID_PUBLIC_TOKEN")
    access_token = sandbox.token(state.rng("access"), "access")
    state.items[access_token] = item
    return {"access_token": access_token, "item_id": item.item_id, "request_id": state.request_id()}


def _item_object(item: Item) -> dict[str, Any]:
    institution = INSTITUTIONS.get(item.institution_id)
    available = sorted({"balance", "identity", "auth", "investments"} - set(item.products))
    return {
        "item_id": item.item_id,
        "institution_id": item.institution_id,
        "institution_name": institution.name if institution else None,
        "webhook": item.webhook,
        "error": None,
        "available_products": available,
        "billed_products": sorted(item.products),
        "products": sorted(item.products),
        "consented_products": sorted(item.products),
        "consent_expiration_time": None,
        "update_type": "background",
    }


def _accounts_get(state: _Plaid, body: dict[str, Any]) -> dict[str, Any]:
    _check_fields(body, ("access_token",), ("options",))
    item = _item(state, body)
    wanted = _strings(_options(body, ("account_ids",)), "account_ids")
    known = {a["account_id"]: a for a in item.accounts}
    if any(w not in known for w in wanted):
        raise _Reject("INVALID_ACCOUNT_ID")
    accounts = [known[w] for w in wanted] if wanted else item.accounts
    return {"accounts": accounts, "item": _item_object(item), "request_id": state.request_id()}


def _encode_cursor(item: Item, position: int, mid_run: bool, account: str) -> str:
    raw = f"{item.item_id}|{position}|{item.version}|{int(mid_run)}|{account}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(item: Item, cursor: str, account: str) -> tuple[int, int, bool]:
    try:
        item_id, position, version, mid_run, scope = (
            base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        )
        decoded = int(position), int(version), mid_run == "1"
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _Reject("INVALID_FIELD", "cursor is not a valid cursor") from None
    if item_id != item.item_id or not 0 <= decoded[0] <= len(item.log):
        raise _Reject("INVALID_FIELD", "cursor does not belong to this item")
    if scope != account:
        raise _Reject("INVALID_FIELD", "cursor was issued for another options.account_id")
    return decoded


def _page(
    item: Item, position: int, count: int, account: str
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, dict[str, Any]], int]:
    """Up to ``count`` changes after ``position``, collapsed per transaction, and the next
    position (a transaction added and changed in one page is shown once, as added)."""
    added: dict[str, dict[str, Any]] = {}
    modified: dict[str, dict[str, Any]] = {}
    removed: dict[str, dict[str, Any]] = {}
    taken, cursor = 0, position
    while cursor < len(item.log) and taken < count:
        kind, transaction_id, snapshot = item.log[cursor]
        cursor += 1
        assert snapshot is not None
        if account and snapshot["account_id"] != account:
            continue
        taken += 1
        if kind == "added" or (kind == "modified" and transaction_id in added):
            added[transaction_id] = snapshot
        elif kind == "modified":
            modified[transaction_id] = snapshot
        elif added.pop(transaction_id, None) is None:
            modified.pop(transaction_id, None)
            removed[transaction_id] = {"transaction_id": transaction_id, **snapshot}
    return added, modified, removed, cursor


def _transactions_sync(state: _Plaid, body: dict[str, Any]) -> dict[str, Any]:
    _check_fields(body, ("access_token",), ("cursor", "count", "options"))
    item = _item(state, body)
    options = _options(
        body,
        ("include_original_description", "include_personal_finance_category",
         "include_logo_and_counterparty_beta", "personal_finance_category_version",
         "days_requested", "account_id"),
    )  # fmt: skip
    account = _string(options, "account_id") or ""
    if account and account not in {a["account_id"] for a in item.accounts}:
        raise _Reject("INVALID_ACCOUNT_ID")
    count = body.get("count", 100)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= _MAX_COUNT:
        raise _Reject("INVALID_FIELD", f"count must be an integer from 1 to {_MAX_COUNT}")
    cursor = _string(body, "cursor") or ""
    position = 0
    if cursor:
        position, version, mid_run = _decode_cursor(item, cursor, account)
        if mid_run and version != item.version:
            raise _Reject("TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
    added, modified, removed, after = _page(item, position, count, account)
    has_more = any(
        not account or (snapshot or {}).get("account_id") == account
        for _, _, snapshot in itertools.islice(item.log, after, None)
    )
    accounts = [a for a in item.accounts if not account or a["account_id"] == account]
    return {
        "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
        "accounts": accounts,
        "added": list(added.values()),
        "modified": list(modified.values()),
        "removed": list(removed.values()),
        "next_cursor": _encode_cursor(item, after, has_more, account),
        "has_more": has_more,
        "request_id": state.request_id(),
    }


def _transactions_refresh(state: _Plaid, body: dict[str, Any]) -> dict[str, Any]:
    _check_fields(body, ("access_token",), ())
    sandbox.refresh(_item(state, body), state.today())
    return {"request_id": state.request_id()}


def _reset_login(state: _Plaid, body: dict[str, Any]) -> dict[str, Any]:
    _check_fields(body, ("access_token",), ())
    _item(state, body, usable=False).login_required = True
    return {"reset_login": True, "request_id": state.request_id()}


def _custom_row(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise _Reject("INVALID_FIELD", "transactions must be an array of objects")
    _check_fields(
        row, ("date_transacted", "date_posted", "amount", "description"), ("iso_currency_code",)
    )
    amount = row["amount"]
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise _Reject("INVALID_FIELD", "amount must be a number")
    out = dict(row)
    for name in ("date_transacted", "date_posted"):
        try:
            out[name] = dt.date.fromisoformat(_string(row, name) or "")
        except ValueError:
            raise _Reject("INVALID_FIELD", f"{name} must be a date (YYYY-MM-DD)") from None
    _string(row, "description")
    return out


def _sandbox_transactions_create(state: _Plaid, body: dict[str, Any]) -> dict[str, Any]:
    _check_fields(body, ("access_token", "transactions"), ())
    item = _item(state, body)
    rows = body["transactions"]
    if not isinstance(rows, list) or len(rows) > _MAX_CUSTOM:
        raise _Reject("INVALID_FIELD", f"transactions must be an array of 1 to {_MAX_CUSTOM}")
    sandbox.custom(item, [_custom_row(row) for row in rows])
    return {"request_id": state.request_id()}


_ROUTES: Final[dict[str, Callable[[_Plaid, dict[str, Any]], dict[str, Any]]]] = {
    "/link/token/create": _link_token_create,
    "/sandbox/public_token/create": _sandbox_public_token_create,
    "/item/public_token/exchange": _item_public_token_exchange,
    "/accounts/get": _accounts_get,
    "/transactions/sync": _transactions_sync,
    "/transactions/refresh": _transactions_refresh,
    "/sandbox/item/reset_login": _reset_login,
    "/sandbox/transactions/create": _sandbox_transactions_create,
}


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Reject("INVALID_BODY", "body could not be parsed as JSON") from None
    if not isinstance(body, dict):
        raise _Reject("INVALID_BODY", "body must be a JSON object")
    return body


def _endpoint(
    handler: Callable[[_Plaid, dict[str, Any]], dict[str, Any]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def endpoint(request: web.Request) -> web.Response:
        state = request.app[_PLAID]
        try:
            body = _body(await request.read())
            _authenticate(state, request, body)
            return json_response(handler(state, body))
        except _Reject as exc:
            status, error = _error_object(exc.code, state.request_id(), exc.detail)
            return json_response(error, status=status)

    return endpoint


def _corrupt(payload: Any, rng: Any) -> Any:
    """Wrong values, right shape: every amount and balance changes sign."""
    if isinstance(payload, list):
        return [_corrupt(item, rng) for item in payload]
    if isinstance(payload, dict):
        return {
            k: -v
            if k in {"amount", "current", "available"} and isinstance(v, float | int)
            else _corrupt(v, rng)
            for k, v in payload.items()
        }
    return payload


def _prelinked(state: _Plaid, token: str, institution: str) -> Item:
    if institution not in INSTITUTIONS:
        raise ValueError(f"unknown Sandbox institution {institution!r}")
    item_id = sandbox.random_id(stable_random(state.seed, "item", token))
    return sandbox.build_item(state.seed, item_id, institution, ["transactions"], state.today())


def create_app(
    faults: Faults | None = None,
    *,
    clock: Callable[[], float] = time.time,
    items: Mapping[str, str] | None = None,
    public_tokens: Mapping[str, str] | None = None,
    credentials: Mapping[str, str] | None = None,
) -> web.Application:
    """The Plaid emulator application.

    Args:
        faults: Faults to inject; ``faults.seed`` also seeds the generated data.
        clock: Wall-clock seconds, which decide "today" for generated transactions.
        items: Items linked before the first request: access token to Sandbox institution id
            (``{"access-sandbox-demo": "ins_109508"}``), for demos and tests.
        public_tokens: Public tokens waiting to be exchanged (each once): public token to
            Sandbox institution id, as if the front end had just finished Link.
        credentials: Client id to secret; when given, other pairs fail with
            ``INVALID_API_KEYS`` (default: any non-empty pair passes).
    """
    faults = faults or Faults()
    state = _Plaid(faults.seed, clock, dict(credentials) if credentials is not None else None)
    app = emulator_app(faults, error_body=_error_body_for(state), corrupt=_corrupt)
    app[_PLAID] = state
    for tokens, kind in ((items or {}, state.items), (public_tokens or {}, state.public_tokens)):
        for token, institution in tokens.items():
            kind[token] = _prelinked(state, token, institution)
    for path, handler in _ROUTES.items():
        app.router.add_post(path, _endpoint(handler))
    return app
