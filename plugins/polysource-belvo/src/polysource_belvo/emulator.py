"""A local emulator of Belvo's aggregation API, with fault injection.

It serves the paths, Basic auth, request validation, response shapes (every key of Belvo's
link, account and transaction objects, nullable ones as ``null``), error arrays and page-number
pagination of the real API, for the sandbox's demo institutions. Each app keeps its own links;
the accounts and transactions of a link are generated from ``Faults.seed`` and the link's
number (the same seed gives the same data), over the 180 days before the link was made.

Sandbox conveniences (as in Belvo's sandbox, any username and password make a link):

- Institutions: ``erebor_{mx,co,br}_retail`` and ``gringotts_{mx,co,br}_retail`` link at once;
  ``gotham_{mx,co,br}_business`` and ``heimdall_{mx,co,br}_retail`` ask for an MFA token
  (``428 token_required`` with a ``session``) unless ``token`` is sent; ``PATCH /api/links/``
  with the session and any token completes the link.
- Usernames that fail: ``user_invalid`` (or password ``pass_invalid``) ``400 login_error``,
  ``user_down`` ``400 institution_down``, ``user_unavailable`` ``400 institution_unavailable``,
  ``user_sessions`` ``400 too_many_sessions``, ``user_unsupported``
  ``400 unsupported_operation``, ``user_timeout`` ``408 request_timeout``, ``user_error``
  ``500 unexpected_error``.
- A ``recurrent`` link (the default) has its data stored at once, as if Belvo's historical
  update had finished; a ``single`` link's data is stored by ``POST /api/accounts/`` and
  ``POST /api/transactions/``.
- Secret keys: any non-empty pair, unless the app is built with ``secret_id`` and
  ``secret_password``; anything else is ``401 authentication_failed``.

Paths: ``GET /api/``; ``GET``/``POST``/``PATCH /api/links/``; ``GET``/``DELETE
/api/links/{id}/``; ``GET``/``POST /api/accounts/``; ``GET /api/accounts/{id}/``;
``GET``/``POST /api/transactions/``; ``GET /api/transactions/{id}/``; plus the control
endpoints of [`polysource.emulation`][polysource.emulation]. Lists take ``page`` and ``page_size``
(default 100,
at most 1000) and answer ``next``/``previous`` as absolute URLs on the request's own host.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import orjson
from aiohttp import web
from attrs import define, field, frozen

from polysource.emulation import Faults, emulator_app, json_response, stable_random

__all__ = ["INSTITUTIONS", "create_app", "error_body"]

_DEFAULT_PAGE_SIZE: Final = 100
_MAX_PAGE_SIZE: Final = 1000
_HISTORY_DAYS: Final = 180
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")


@frozen
class Institution:
    """One emulated institution."""

    display_name: str
    country: str
    mfa: bool = False


def _institutions() -> dict[str, Institution]:
    out: dict[str, Institution] = {}
    for country in ("mx", "co", "br"):
        out[f"erebor_{country}_retail"] = Institution("Erebor Bank", country.upper())
        out[f"gringotts_{country}_retail"] = Institution("Gringotts Bank", country.upper())
        out[f"gotham_{country}_business"] = Institution(
            "Gotham Business Bank", country.upper(), mfa=True
        )
        out[f"heimdall_{country}_retail"] = Institution("Heimdall Bank", country.upper(), mfa=True)
    return out


INSTITUTIONS: Final[Mapping[str, Institution]] = _institutions()

_CURRENCIES: Final = {"MX": "MXN", "CO": "COP", "BR": "BRL"}
_PUBLIC_ID: Final = {"MX": "CLABE", "CO": "ACCOUNT_NUMBER", "BR": "AGENCY/ACCOUNT"}

_INVALID_PASSWORD: Final = "pass_invalid"  # noqa: S105 - a sandbox convenience, not a secret
_LOGIN_FAILURES: Final[Mapping[str, tuple[int, str, str]]] = {
    "user_invalid": (
        400,
        "login_error",
        "Invalid credentials provided to login to the institution",
    ),
    "user_down": (400, "institution_down", "The financial institution is down, try again later"),
    "user_unavailable": (
        400,
        "institution_unavailable",
        "The financial institution is unavailable, try again later",
    ),
    "user_sessions": (
        400,
        "too_many_sessions",
        "Impossible to login, a session is already opened with the institution for these "
        "credentials",
    ),
    "user_unsupported": (
        400,
        "unsupported_operation",
        "The resource you are trying to access is not supported by this institution",
    ),
    "user_timeout": (408, "request_timeout", "The request timed out, try again later"),
    "user_error": (
        500,
        "unexpected_error",
        "Belvo is unable to process the request due to an internal system issue or to an "
        "unsupported response from an institution",
    ),
}

_STATUS_CODES: Final[Mapping[int, tuple[str, str]]] = {
    400: ("invalid", "Invalid request."),
    401: ("authentication_failed", "Invalid Secret Keys"),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    408: ("request_timeout", "The request timed out, try again later"),
    429: ("too_many_requests", "Request was throttled."),
    503: ("service_unavailable", "Service temporarily unavailable, try again later"),
}

_DESCRIPTIONS: Final = {
    "INFLOW": (
        ("SPEI RECIBIDO", "Transfers", None),
        ("NOMINA", "Income & Payments", None),
        ("DEPOSITO EN EFECTIVO", "Deposits", None),
        ("REEMBOLSO", "Income & Payments", "Merchants R Us"),
    ),
    "OUTFLOW": (
        ("SPEI ENVIADO", "Transfers", None),
        ("OXXO", "Food & Groceries", "OXXO"),
        ("UBER TRIP", "Transport & Travel", "Uber"),
        ("NETFLIX.COM", "Online Platforms & Leisure", "Netflix"),
        ("CFE LUZ", "Bills & Utilities", "CFE"),
        ("RETIRO CAJERO", "Withdrawal & ATM", None),
        ("COMISION MANEJO CUENTA", "Fees & Charges", None),
        ("AMAZON MARKETPLACE", "Personal Shopping", "Amazon"),
    ),
}


# -- state ---------------------------------------------------------------------------------------


@define
class _Store:
    """The state of one emulator app: its links and the data stored for them."""

    seed: int
    clock: Callable[[], float]
    page_size: int
    secret_id: str | None
    secret_password: str | None
    links: dict[str, dict[str, Any]] = field(factory=dict)
    accounts: dict[str, list[dict[str, Any]]] = field(factory=dict)
    transactions: dict[str, list[dict[str, Any]]] = field(factory=dict)
    stored: set[str] = field(factory=set)
    sessions: dict[str, str] = field(factory=dict)
    counter: Iterator[int] = field(factory=itertools.count)

    def new_id(self, *parts: object) -> str:
        rng = stable_random(self.seed, *parts, next(self.counter))
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)


_STORE: Final = web.AppKey("belvo_emulator", _Store)


class _Reject(Exception):
    """A request the real API rejects: the status and one Belvo error object."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"code": code, "message": message, **extra}


def _request_id() -> str:
    return uuid.uuid4().hex


def error_body(status: int, message: str) -> tuple[str, bytes]:
    """Belvo's error body for an injected fault: an array of one error object."""
    if status in _STATUS_CODES:
        code, text = _STATUS_CODES[status]
    elif status >= 500:
        code, text = _LOGIN_FAILURES["user_error"][1:]
    else:
        code, text = "invalid", message
    return "application/json", orjson.dumps(
        [{"request_id": _request_id(), "message": text, "code": code}]
    )


def _reject(exc: _Reject) -> web.Response:
    return json_response([{"request_id": _request_id(), **exc.error}], status=exc.status)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- generated data ------------------------------------------------------------------------------


def _digits(rng: Any, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def _account(
    store: _Store, link: Mapping[str, Any], index: int, category: str, now: dt.datetime
) -> dict[str, Any]:
    rng = stable_random(store.seed, link["id"], "account", index)
    country = INSTITUTIONS[link["institution"]].country
    credit = category == "CREDIT_CARD"
    current = round(rng.uniform(500, 60000), 2)
    names = {
        "CHECKING_ACCOUNT": ("Cuentas de efectivo", "Cuenta Perfiles"),
        "SAVINGS_ACCOUNT": ("Cuentas de ahorro", "Cuenta Ahorro"),
        "CREDIT_CARD": ("Tarjeta de credito", "Tarjeta Oro"),
    }
    kind, name = names[category]
    number = _digits(rng, 16 if credit else 13)
    stamp = _iso(now)
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "link": link["id"],
        "institution": {"name": link["institution"], "type": "bank"},
        "collected_at": stamp,
        "created_at": stamp,
        "category": category,
        "balance_type": "LIABILITY" if credit else "ASSET",
        "type": kind,
        "name": f"{name} - {_CURRENCIES[country]}-{number[-3:]}",
        "number": number,
        "balance": {
            "current": current,
            "available": round(current * (0.6 if credit else 0.97), 2),
        },
        "currency": _CURRENCIES[country],
        "public_identification_name": "CARD_NUMBER" if credit else _PUBLIC_ID[country],
        "public_identification_value": number if credit else _digits(rng, 18),
        "last_accessed_at": stamp,
        "credit_data": _credit_data(rng, now) if credit else None,
        "loan_data": None,
        "funds_data": None,
        "receivables_data": None,
        "bank_product_id": None,
        "internal_identification": None,
    }


def _credit_data(rng: Any, now: dt.datetime) -> dict[str, Any]:
    cutting = (now - dt.timedelta(days=rng.randrange(1, 28))).date()
    return {
        "collected_at": _iso(now),
        "credit_limit": float(rng.choice((20000, 50000, 80000))),
        "cutting_date": cutting.isoformat(),
        "next_payment_date": (cutting + dt.timedelta(days=20)).isoformat(),
        "minimum_payment": round(rng.uniform(300, 2000), 2),
        "no_interest_payment": round(rng.uniform(2000, 15000), 2),
        "interest_rate": round(rng.uniform(20, 60), 1),
        "monthly_payment": None,
        "last_payment_date": (cutting - dt.timedelta(days=10)).isoformat(),
        "end_date": None,
    }


_RATES: Final = {"CHECKING_ACCOUNT": 0.5, "SAVINGS_ACCOUNT": 0.06, "CREDIT_CARD": 0.25}
_INFLOW_SHARE: Final = {"CHECKING_ACCOUNT": 0.25, "SAVINGS_ACCOUNT": 0.6, "CREDIT_CARD": 0.1}


def _transactions(store: _Store, account: dict[str, Any], now: dt.datetime) -> list[dict[str, Any]]:
    category = account["category"]
    balance = float(account["balance"]["current"])
    today = now.date()
    out: list[dict[str, Any]] = []
    for back in range(_HISTORY_DAYS):
        day = today - dt.timedelta(days=back)
        rng = stable_random(store.seed, account["id"], day.toordinal())
        if rng.random() >= _RATES[category]:
            continue
        direction = "INFLOW" if rng.random() < _INFLOW_SHARE[category] else "OUTFLOW"
        description, spending, merchant = rng.choice(_DESCRIPTIONS[direction])
        amount = round(rng.uniform(80, 9000) if direction == "INFLOW" else rng.uniform(15, 2500), 2)
        booked = dt.datetime.combine(day, dt.time(rng.randrange(8, 22), rng.randrange(60)), dt.UTC)
        out.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "internal_identification": None,
                "account": account,
                "collected_at": _iso(now),
                "created_at": _iso(now),
                "value_date": day.isoformat(),
                "accounting_date": _iso(booked),
                "amount": amount,
                "balance": round(balance, 2),
                "currency": account["currency"],
                "description": description,
                "observations": None,
                "merchant": None
                if merchant is None
                else {"logo": None, "website": None, "merchant_name": merchant},
                "category": spending,
                "subcategory": None,
                "reference": _digits(rng, 7),
                "type": direction,
                "status": "PENDING" if back < 2 else "PROCESSED",
                "credit_card_data": None,
            }
        )
        balance -= amount if direction == "INFLOW" else -amount
    return out


def _generate(store: _Store, link: dict[str, Any]) -> None:
    """Make a valid link's accounts and transactions (kept apart until stored)."""
    now = store.now()
    categories = ("CHECKING_ACCOUNT", "SAVINGS_ACCOUNT", "CREDIT_CARD")
    accounts = [_account(store, link, i, c, now) for i, c in enumerate(categories)]
    store.accounts[link["id"]] = accounts
    store.transactions[link["id"]] = [t for a in accounts for t in _transactions(store, a, now)]
    if link["access_mode"] == "recurrent":
        store.stored.add(link["id"])


# -- request helpers ---------------------------------------------------------------------------


def _store(request: web.Request) -> _Store:
    return request.app[_STORE]


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise _Reject(400, "parse_error", "JSON parse error") from None
    if not isinstance(data, dict):
        raise _Reject(400, "invalid", "Invalid data. Expected a dictionary.")
    return data


def _required(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise _Reject(400, "required", "This field is required.", field=name)
    if not isinstance(value, str):
        raise _Reject(400, "invalid", "Not a valid string.", field=name)
    return value


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _Reject(
            400,
            "invalid",
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
            field=name,
        ) from None


def _link(store: _Store, link_id: str, name: str = "link") -> dict[str, Any]:
    link = store.links.get(link_id) if _UUID.fullmatch(link_id) else None
    if link is None:
        raise _Reject(
            400, "does_not_exist", f'Invalid pk "{link_id}" - object does not exist.', field=name
        )
    return link


def _usable(link: Mapping[str, Any]) -> None:
    if link["status"] == "invalid":
        raise _Reject(
            400,
            "invalid_link",
            "The link has been invalidated. You may need to update link credentials",
        )
    if link["status"] != "valid":
        raise _Reject(400, "unconfirmed_link", "The link creation has not been completed yet")


def _page_size(request: web.Request) -> int:
    text = request.query.get("page_size", "")
    try:
        size = int(text)
    except ValueError:
        return _store(request).page_size
    return min(size, _MAX_PAGE_SIZE) if size >= 1 else _store(request).page_size


def _paginate(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
    size = _page_size(request)
    try:
        page = int(request.query.get("page", "1"))
    except ValueError:
        raise _Reject(404, "not_found", "Invalid page.") from None
    pages = max(1, -(-len(items) // size))
    if not 1 <= page <= pages:
        raise _Reject(404, "not_found", "Invalid page.")
    chunk = items[(page - 1) * size : page * size]
    here = request.url
    return json_response(
        {
            "count": len(items),
            "next": str(here.update_query(page=page + 1)) if page < pages else None,
            "previous": str(here.update_query(page=page - 1)) if page > 1 else None,
            "results": chunk,
        }
    )


def _by_id(items: list[dict[str, Any]], item_id: str) -> dict[str, Any]:
    for item in items:
        if item["id"] == item_id:
            return item
    raise _Reject(404, "not_found", "Not found.")


def _link_filter(request: web.Request, *, required: bool) -> list[str]:
    """The link ids a list is restricted to (``link``, ``link__in``), all links if neither."""
    store = _store(request)
    if "link" in request.query:
        wanted = [request.query["link"]]
    elif "link__in" in request.query:
        wanted = [v for v in request.query["link__in"].split(",") if v]
    elif required:
        raise _Reject(400, "required", "This field is required.", field="link")
    else:
        return sorted(store.stored)
    for link_id in wanted:
        if not _UUID.fullmatch(link_id):
            raise _Reject(400, "invalid", "Enter a valid UUID.", field="link")
    return [link_id for link_id in wanted if link_id in store.stored]


@web.middleware
async def _api(request: web.Request, handler: Any) -> web.StreamResponse:
    """Basic auth on ``/api/``, and Belvo's error arrays for rejections and unknown paths."""
    if not request.path.startswith("/api/"):
        return await handler(request)  # type: ignore[no-any-return]
    try:
        _authenticate(request)
        return await handler(request)  # type: ignore[no-any-return]
    except _Reject as exc:
        return _reject(exc)
    except web.HTTPNotFound:
        return _reject(_Reject(404, "not_found", "Not found."))
    except web.HTTPMethodNotAllowed:
        return _reject(
            _Reject(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
        )


def _authenticate(request: web.Request) -> None:
    store = _store(request)
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    key_id, _, password = decoded.partition(":")
    if scheme.lower() != "basic" or not key_id or not password:
        raise _Reject(401, "authentication_failed", "Invalid Secret Keys")
    if store.secret_id is not None and (key_id, password) != (
        store.secret_id,
        store.secret_password,
    ):
        raise _Reject(401, "authentication_failed", "Invalid Secret Keys")


# -- handlers ------------------------------------------------------------------------------------


async def _root(request: web.Request) -> web.Response:
    names = ("links", "accounts", "transactions")
    return json_response({name: str(request.url.with_path(f"/api/{name}/")) for name in names})


async def _list_links(request: web.Request) -> web.Response:
    links = list(_store(request).links.values())
    for name in ("external_id", "institution", "status", "access_mode"):
        if name in request.query:
            links = [link for link in links if link[name] == request.query[name]]
    return _paginate(request, links)


async def _create_link(request: web.Request) -> web.Response:
    store, data = _store(request), await _body(request)
    institution = _required(data, "institution")
    username = _required(data, "username")
    password = _required(data, "password")
    if institution not in INSTITUTIONS:
        raise _Reject(
            400, "invalid", f'"{institution}" is not a valid choice.', field="institution"
        )
    access_mode = data.get("access_mode") or "recurrent"
    if access_mode not in ("single", "recurrent"):
        raise _Reject(
            400, "invalid", f'"{access_mode}" is not a valid choice.', field="access_mode"
        )
    external_id = data.get("external_id")
    if external_id is not None and (not isinstance(external_id, str) or len(external_id) < 3):
        raise _Reject(
            400, "min_length", "Ensure this field has at least 3 characters.", field="external_id"
        )
    failure = _LOGIN_FAILURES.get(username)
    if password == _INVALID_PASSWORD:
        failure = _LOGIN_FAILURES["user_invalid"]
    if failure is not None:
        raise _Reject(failure[0], failure[1], failure[2])
    now = store.now()
    link_id = store.new_id("link")
    link = {
        "id": link_id,
        "institution": institution,
        "access_mode": access_mode,
        "last_accessed_at": _iso(now),
        "created_at": _iso(now),
        "external_id": external_id,
        "institution_user_id": base64.urlsafe_b64encode(
            stable_random(store.seed, institution, username).randbytes(32)
        ).decode(),
        "status": "valid",
        "created_by": str(uuid.UUID(int=stable_random(store.seed, "user").getrandbits(128))),
        "refresh_rate": "7d" if access_mode == "recurrent" else None,
    }
    store.links[link_id] = link
    if INSTITUTIONS[institution].mfa and not data.get("token"):
        link["status"] = "token_required"
        session = uuid.UUID(store.new_id("session")).hex
        store.sessions[session] = link_id
        raise _Reject(
            428,
            "token_required",
            "A MFA token is required by the institution to login",
            session=session,
            expiry=9600,
            link=link_id,
            token_generation_data={
                "instructions": "Use this code to generate the token",
                "type": "numeric",
                "value": "12345",
                "expects_user_input": True,
            },
        )
    _generate(store, link)
    return json_response(link, status=201)


async def _resume_link(request: web.Request) -> web.Response:
    store, data = _store(request), await _body(request)
    session = _required(data, "session")
    _required(data, "token")
    link_id = store.sessions.pop(session, None)
    if link_id is None or link_id not in store.links:
        raise _Reject(400, "session_expired", "The session you are trying to resume has expired")
    if data.get("link") not in (None, link_id):
        raise _Reject(400, "invalid", "The link does not match the session.", field="link")
    link = store.links[link_id]
    link["status"] = "valid"
    link["last_accessed_at"] = _iso(store.now())
    _generate(store, link)
    return json_response(link)


async def _get_link(request: web.Request) -> web.Response:
    link = _store(request).links.get(request.match_info["link_id"])
    if link is None:
        raise _Reject(404, "not_found", "Not found.")
    return json_response(link)


async def _delete_link(request: web.Request) -> web.Response:
    store, link_id = _store(request), request.match_info["link_id"]
    if store.links.pop(link_id, None) is None:
        raise _Reject(404, "not_found", "Not found.")
    store.accounts.pop(link_id, None)
    store.transactions.pop(link_id, None)
    store.stored.discard(link_id)
    return web.Response(status=204)


def _stored_accounts(store: _Store, link_ids: list[str]) -> list[dict[str, Any]]:
    return [a for link_id in link_ids for a in store.accounts.get(link_id, [])]


async def _list_accounts(request: web.Request) -> web.Response:
    store = _store(request)
    accounts = _stored_accounts(store, _link_filter(request, required=False))
    if "id" in request.query:
        accounts = [a for a in accounts if a["id"] == request.query["id"]]
    return _paginate(request, accounts)


async def _retrieve_accounts(request: web.Request) -> web.Response:
    store, data = _store(request), await _body(request)
    link = _link(store, _required(data, "link"))
    _usable(link)
    if data.get("save_data", True) is not False:
        store.stored.add(link["id"])
    return json_response(store.accounts[link["id"]], status=201)


async def _get_account(request: web.Request) -> web.Response:
    store = _store(request)
    return json_response(
        _by_id(_stored_accounts(store, sorted(store.stored)), request.match_info["item_id"])
    )


def _in_range(day: str, low: dt.date | None, high: dt.date | None) -> bool:
    value = dt.date.fromisoformat(day)
    return (low is None or value >= low) and (high is None or value <= high)


def _date_bounds(request: web.Request) -> tuple[dt.date | None, dt.date | None]:
    query = request.query
    low = high = None
    if "value_date__range" in query:
        first, _, last = query["value_date__range"].partition(",")
        low, high = _date(first, "value_date__range"), _date(last, "value_date__range")
    if "value_date__gte" in query:
        low = _date(query["value_date__gte"], "value_date__gte")
    if "value_date__gt" in query:
        low = _date(query["value_date__gt"], "value_date__gt") + dt.timedelta(days=1)
    if "value_date__lte" in query:
        high = _date(query["value_date__lte"], "value_date__lte")
    if "value_date__lt" in query:
        high = _date(query["value_date__lt"], "value_date__lt") - dt.timedelta(days=1)
    if "value_date" in query:
        low = high = _date(query["value_date"], "value_date")
    return low, high


async def _list_transactions(request: web.Request) -> web.Response:
    store = _store(request)
    link_ids = _link_filter(request, required=True)
    low, high = _date_bounds(request)
    items = [
        t
        for link_id in link_ids
        for t in store.transactions.get(link_id, [])
        if _in_range(t["value_date"], low, high)
    ]
    if "account" in request.query:
        items = [t for t in items if t["account"]["id"] == request.query["account"]]
    if "id" in request.query:
        items = [t for t in items if t["id"] == request.query["id"]]
    return _paginate(request, items)


async def _retrieve_transactions(request: web.Request) -> web.Response:
    store, data = _store(request), await _body(request)
    link = _link(store, _required(data, "link"))
    date_from = _date(_required(data, "date_from"), "date_from")
    date_to = _date(_required(data, "date_to"), "date_to")
    if date_from > date_to:
        raise _Reject(
            400,
            "invalid_period",
            "date_from cannot be greater than date_to",
            field="date_from",
        )
    if date_to > store.now().date():
        raise _Reject(400, "invalid", "date_to cannot be a future date", field="date_to")
    _usable(link)
    items = [
        t for t in store.transactions[link["id"]] if _in_range(t["value_date"], date_from, date_to)
    ]
    account = data.get("account")
    if account:
        items = [t for t in items if t["account"]["id"] == account]
    if data.get("save_data", True) is not False:
        store.stored.add(link["id"])
    return json_response(items, status=201)


async def _get_transaction(request: web.Request) -> web.Response:
    store = _store(request)
    items = [t for link_id in sorted(store.stored) for t in store.transactions[link_id]]
    return json_response(_by_id(items, request.match_info["item_id"]))


# -- the application ---------------------------------------------------------------------------


def _corrupt(payload: Any, rng: Any) -> Any:
    """Wrong values, right shape: amounts and balances turn negative, directions flip."""
    if isinstance(payload, list):
        return [_corrupt(item, rng) for item in payload]
    if isinstance(payload, dict):
        out: dict[str, Any] = {}
        for key, value in payload.items():
            if isinstance(value, float):
                out[key] = -value
            elif key == "type" and value in ("INFLOW", "OUTFLOW"):
                out[key] = "OUTFLOW" if value == "INFLOW" else "INFLOW"
            else:
                out[key] = _corrupt(value, rng)
        return out
    return payload


def create_app(
    faults: Faults | None = None,
    *,
    clock: Callable[[], float] = time.time,
    page_size: int = _DEFAULT_PAGE_SIZE,
    secret_id: str | None = None,
    secret_password: str | None = None,
) -> web.Application:
    """The Belvo emulator application.

    Args:
        faults: Faults to inject; ``faults.seed`` also seeds the generated data.
        clock: Wall-clock seconds: "now" for timestamps and the 180 days of transactions.
        page_size: Items per list page when the request gives no ``page_size`` (Belvo's
            production default is 100, its sandbox's 10).
        secret_id: The only secret key id accepted (default: any non-empty one).
        secret_password: The only secret key password accepted (with ``secret_id``).
    """
    faults = faults or Faults()
    app = emulator_app(faults, error_body=error_body, corrupt=_corrupt)
    app.middlewares.append(_api)
    app[_STORE] = _Store(
        seed=faults.seed,
        clock=clock,
        page_size=max(1, min(page_size, _MAX_PAGE_SIZE)),
        secret_id=secret_id,
        secret_password=secret_password if secret_id is not None else None,
    )
    router = app.router
    router.add_get("/api/", _root)
    router.add_get("/api/links/", _list_links)
    router.add_post("/api/links/", _create_link)
    router.add_patch("/api/links/", _resume_link)
    router.add_get("/api/links/{link_id}/", _get_link)
    router.add_delete("/api/links/{link_id}/", _delete_link)
    router.add_get("/api/accounts/", _list_accounts)
    router.add_post("/api/accounts/", _retrieve_accounts)
    router.add_get("/api/accounts/{item_id}/", _get_account)
    router.add_get("/api/transactions/", _list_transactions)
    router.add_post("/api/transactions/", _retrieve_transactions)
    router.add_get("/api/transactions/{item_id}/", _get_transaction)
    return app
