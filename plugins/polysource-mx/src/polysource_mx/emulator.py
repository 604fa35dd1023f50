"""A local emulator of the MX Platform API (v20111101), with fault injection.

It serves the paths, parameters, response shapes and error bodies polysource and the official
``mx-platform-python`` SDK use: users, members (with their status and aggregation), accounts,
transactions and institutions, with state (users and members created by calls) kept per
application in memory. Every key the SDK's strict models read is present with the right JSON
type (numbers as numbers, ``date`` as ``YYYY-MM-DD``), and the fields the spec mistypes
(``most_recent_job_detail_text``, ``most_recent_job_guid``) are ``null``.

Rules it enforces like the real API:

- HTTP Basic auth with a non-empty client id and API key (or exactly the ones given to
  [`create_app()`][polysource_mx.emulator.create_app]), else 401; ``Accept:
  application/vnd.mx.api.v1+json``, else 406.
- ``POST``/``PUT`` bodies are JSON objects wrapping the resource (``{"user": {...}}``), else 400.
- A second user or member with the same partner ``id`` is 409; unknown guids are 404.
- Lists page with ``page`` and ``records_per_page`` (10 to 1000; above 1000 falls back to 25)
  and answer a ``pagination`` object; transactions filter by ``from_date`` (default 120 days
  ago) and ``to_date`` (default today + 5).
- Errors are ``{"error": {"message": ...}}``.

The sandbox institution ``mxbank`` (and ``mxcu``) behaves like MX's test bank: username
``mxuser`` connects with any password except ``challenge``/``options``/``image``
(``CHALLENGED``), ``UNAUTHORIZED``/``INVALID`` (``DENIED``), ``LOCKED`` (``LOCKED``) and
``BAD_REQUEST``/``SERVER_ERROR``/``UNAVAILABLE`` (``FAILED``); another username is ``DENIED``.
``mx_pin_bank`` (emulator only) asks for a third credential, a PIN. A connected member gets
three accounts and about eight months of transactions, generated from ``Faults.seed``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson
from aiohttp import web

from polysource.emulation import Faults, emulator_app, json_response
from polysource_mx.sandbox import (
    INSTITUTIONS,
    Institution,
    SandboxMember,
    SandboxState,
    SandboxUser,
    aggregate,
    connection_status_for,
    credential_guid,
    credential_json,
    institution_json,
    member_json,
    status_json,
    user_json,
)

__all__ = ["INSTITUTIONS", "create_app", "error_body"]

ACCEPT: Final = "application/vnd.mx.api.v1+json"
_DEFAULT_PER_PAGE: Final = 25
_MIN_PER_PAGE: Final = 10
_MAX_PER_PAGE: Final = 1000


class _Reject(Exception):
    """A request the real API rejects: the status and MX's error message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(status: int, message: str) -> tuple[str, bytes]:
    """MX's error body: ``{"error": {"message": ...}}``."""
    return "application/json", orjson.dumps({"error": {"message": message}})


def _reject(exc: _Reject) -> web.Response:
    content_type, body = error_body(exc.status, exc.message)
    return web.Response(status=exc.status, body=body, content_type=content_type)


_STATE: Final = web.AppKey("mx_emulator_state", SandboxState)


# -- request helpers -----------------------------------------------------------------------------


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/_emulator/"):
        return await handler(request)  # type: ignore[no-any-return]
    state = request.app[_STATE]
    try:
        _authenticate(request, state)
        _check_version(request)
        return await handler(request)  # type: ignore[no-any-return]
    except _Reject as exc:
        return _reject(exc)


def _check_version(request: web.Request) -> None:
    header = request.headers.get("Accept", "")
    if ACCEPT not in (part.split(";")[0].strip() for part in header.split(",")):
        raise _Reject(406, f"Not Acceptable: send the header Accept: {ACCEPT}")


def _authenticate(request: web.Request, state: SandboxState) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    client_id, _, api_key = decoded.partition(":")
    valid = scheme.lower() == "basic" and bool(client_id) and bool(api_key)
    if valid and state.client_id is not None:
        valid = client_id == state.client_id and api_key == state.api_key
    if not valid:
        raise _Reject(401, "Unauthorized: invalid MX-Client-ID or MX-API-Key.")


async def _body(request: web.Request, resource: str) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise _Reject(400, "The request body is not valid JSON.") from None
    inner = data.get(resource) if isinstance(data, dict) else None
    if not isinstance(inner, dict) or not inner:
        raise _Reject(400, f"The request body must be an object with a non-empty {resource!r}.")
    return inner


def _optional_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _Reject(400, f"{name} must be a string.")
    return value


def _int_param(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise _Reject(400, f"{name} must be an integer.") from None


def _page(request: web.Request, items: Sequence[Any], key: str) -> web.Response:
    page = _int_param(request, "page", 1)
    if page < 1:
        raise _Reject(400, "page must be 1 or greater.")
    per_page = _int_param(request, "records_per_page", _DEFAULT_PER_PAGE)
    if per_page > _MAX_PER_PAGE:
        per_page = _DEFAULT_PER_PAGE
    per_page = max(per_page, _MIN_PER_PAGE)
    start = (page - 1) * per_page
    return json_response(
        {
            key: list(items[start : start + per_page]),
            "pagination": {
                "current_page": page,
                "per_page": per_page,
                "total_entries": len(items),
                "total_pages": math.ceil(len(items) / per_page),
            },
        }
    )


def _user(request: web.Request) -> SandboxUser:
    user = request.app[_STATE].users.get(request.match_info["user_guid"])
    if user is None:
        raise _Reject(404, "User not found.")
    return user


def _member(request: web.Request) -> SandboxMember:
    user = _user(request)
    member = request.app[_STATE].members.get(request.match_info["member_guid"])
    if member is None or member.user_guid != user.guid:
        raise _Reject(404, "Member not found.")
    return member


def _user_members(state: SandboxState, user: SandboxUser) -> list[SandboxMember]:
    return [m for m in state.members.values() if m.user_guid == user.guid]


def _user_accounts(state: SandboxState, user: SandboxUser) -> list[dict[str, Any]]:
    return [a for m in _user_members(state, user) for a in m.accounts]


def _account(request: web.Request) -> dict[str, Any]:
    state, user = request.app[_STATE], _user(request)
    guid = request.match_info["account_guid"]
    for account in _user_accounts(state, user):
        if account["guid"] == guid:
            return account
    raise _Reject(404, "Account not found.")


def _date_param(request: web.Request, name: str, default: dt.date) -> dt.date:
    text = request.query.get(name)
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _Reject(400, f"{name} must be a date in the format YYYY-MM-DD.") from None


def _in_range(request: web.Request, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    today = request.app[_STATE].today()
    start = _date_param(request, "from_date", today - dt.timedelta(days=120))
    end = _date_param(request, "to_date", today + dt.timedelta(days=5))
    low, high = start.isoformat(), end.isoformat()
    return [t for t in items if low <= t["date"] <= high]


# -- handlers: users -----------------------------------------------------------------------------


async def _create_user(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    body = await _body(request, "user")
    partner_id = _optional_str(body, "id")
    if partner_id is not None and any(u.partner_id == partner_id for u in state.users.values()):
        raise _Reject(409, "A user with the given id already exists.")
    is_disabled = body.get("is_disabled", False)
    if not isinstance(is_disabled, bool):
        raise _Reject(400, "is_disabled must be a boolean.")
    user = SandboxUser(
        guid=state.guid("USR", partner_id),
        partner_id=partner_id,
        email=_optional_str(body, "email"),
        is_disabled=is_disabled,
        metadata=_optional_str(body, "metadata"),
    )
    state.users[user.guid] = user
    return json_response({"user": user_json(user)})


async def _list_users(request: web.Request) -> web.Response:
    users = list(request.app[_STATE].users.values())
    for name in ("id", "email"):
        wanted = request.query.get(name)
        if wanted is not None:
            attribute = "partner_id" if name == "id" else name
            users = [u for u in users if getattr(u, attribute) == wanted]
    disabled = request.query.get("is_disabled")
    if disabled is not None:
        users = [u for u in users if u.is_disabled == (disabled.lower() == "true")]
    return _page(request, [user_json(u) for u in users], "users")


async def _read_user(request: web.Request) -> web.Response:
    return json_response({"user": user_json(_user(request))})


async def _update_user(request: web.Request) -> web.Response:
    user = _user(request)
    body = await _body(request, "user")
    for name, attribute in (("id", "partner_id"), ("email", "email"), ("metadata", "metadata")):
        if name in body:
            setattr(user, attribute, _optional_str(body, name))
    if "is_disabled" in body:
        if not isinstance(body["is_disabled"], bool):
            raise _Reject(400, "is_disabled must be a boolean.")
        user.is_disabled = body["is_disabled"]
    return json_response({"user": user_json(user)})


async def _delete_user(request: web.Request) -> web.Response:
    state, user = request.app[_STATE], _user(request)
    for member in _user_members(state, user):
        del state.members[member.guid]
    del state.users[user.guid]
    return web.Response(status=204)


# -- handlers: institutions ----------------------------------------------------------------------


def _institution(code: str) -> Institution:
    institution = INSTITUTIONS.get(code)
    if institution is None:
        raise _Reject(404, "Institution not found.")
    return institution


async def _list_institutions(request: web.Request) -> web.Response:
    name = (request.query.get("name") or "").lower()
    found = [institution_json(i) for i in INSTITUTIONS.values() if name in i.name.lower()]
    return _page(request, found, "institutions")


async def _read_institution(request: web.Request) -> web.Response:
    institution = _institution(request.match_info["institution_code"])
    return json_response({"institution": institution_json(institution)})


async def _institution_credentials(request: web.Request) -> web.Response:
    institution = _institution(request.match_info["institution_code"])
    seed = request.app[_STATE].seed
    fields = [credential_json(seed, institution, i) for i in range(len(institution.fields))]
    return _page(request, fields, "credentials")


# -- handlers: members ---------------------------------------------------------------------------


def _credential_values(
    state: SandboxState, institution: Institution, credentials: Any
) -> dict[str, str]:
    if not isinstance(credentials, list):
        raise _Reject(400, "credentials must be an array of objects with guid and value.")
    by_guid = {
        credential_guid(state.seed, institution.code, f[0]): f[0] for f in institution.fields
    }
    values: dict[str, str] = {}
    for item in credentials:
        guid = item.get("guid") if isinstance(item, dict) else None
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(guid, str) or not isinstance(value, str):
            raise _Reject(400, "Each credential needs a string guid and value.")
        if guid not in by_guid:
            raise _Reject(422, "A credential guid does not belong to this institution.")
        values[by_guid[guid]] = value
    missing = [name for name, _, _ in institution.fields if name not in values]
    if missing:
        raise _Reject(400, f"Missing required credentials: {', '.join(missing)}.")
    return values


async def _create_member(request: web.Request) -> web.Response:
    state, user = request.app[_STATE], _user(request)
    body = await _body(request, "member")
    code = body.get("institution_code")
    if not isinstance(code, str) or not code:
        raise _Reject(400, "institution_code is required.")
    institution = _institution(code)
    values = _credential_values(state, institution, body.get("credentials"))
    partner_id = _optional_str(body, "id")
    if partner_id is not None and any(
        m.partner_id == partner_id for m in _user_members(state, user)
    ):
        raise _Reject(409, "A member with the given id already exists.")
    member = SandboxMember(
        guid=state.guid("MBR", user.guid, partner_id),
        user_guid=user.guid,
        partner_id=partner_id,
        institution=institution,
        metadata=_optional_str(body, "metadata"),
    )
    state.members[member.guid] = member
    if body.get("skip_aggregation") is not True:
        member.connection_status = connection_status_for(values)
        aggregate(state, member)
    return json_response({"member": member_json(state, member)}, status=202)


async def _list_members(request: web.Request) -> web.Response:
    state, user = request.app[_STATE], _user(request)
    members = [member_json(state, m) for m in _user_members(state, user)]
    return _page(request, members, "members")


async def _read_member(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    return json_response({"member": member_json(state, _member(request))})


async def _update_member(request: web.Request) -> web.Response:
    state, member = request.app[_STATE], _member(request)
    body = await _body(request, "member")
    if "id" in body:
        member.partner_id = _optional_str(body, "id")
    if "metadata" in body:
        member.metadata = _optional_str(body, "metadata")
    if "credentials" in body:
        values = _credential_values(state, member.institution, body["credentials"])
        if body.get("skip_aggregation") is not True:
            member.connection_status = connection_status_for(values)
            aggregate(state, member)
    return json_response({"member": member_json(state, member)})


async def _delete_member(request: web.Request) -> web.Response:
    member = _member(request)
    del request.app[_STATE].members[member.guid]
    return web.Response(status=204)


async def _member_status(request: web.Request) -> web.Response:
    return json_response({"member": status_json(_member(request))})


async def _aggregate_member(request: web.Request) -> web.Response:
    state, member = request.app[_STATE], _member(request)
    aggregate(state, member)
    return json_response({"member": member_json(state, member)}, status=202)


# -- handlers: accounts and transactions ---------------------------------------------------------


async def _user_accounts_list(request: web.Request) -> web.Response:
    state, user = request.app[_STATE], _user(request)
    return _page(request, _user_accounts(state, user), "accounts")


async def _member_accounts(request: web.Request) -> web.Response:
    return _page(request, _member(request).accounts, "accounts")


async def _read_account(request: web.Request) -> web.Response:
    return json_response({"account": _account(request)})


async def _user_transactions(request: web.Request) -> web.Response:
    state, user = request.app[_STATE], _user(request)
    every = [t for m in _user_members(state, user) for t in m.transactions]
    every.sort(key=lambda t: (t["date"], t["guid"]), reverse=True)
    return _page(request, _in_range(request, every), "transactions")


async def _member_transactions(request: web.Request) -> web.Response:
    return _page(request, _in_range(request, _member(request).transactions), "transactions")


async def _account_transactions(request: web.Request) -> web.Response:
    state, account = request.app[_STATE], _account(request)
    member = state.members[account["member_guid"]]
    mine = [t for t in member.transactions if t["account_guid"] == account["guid"]]
    return _page(request, _in_range(request, mine), "transactions")


async def _read_transaction(request: web.Request) -> web.Response:
    state, user = request.app[_STATE], _user(request)
    guid = request.match_info["transaction_guid"]
    for member in _user_members(state, user):
        for transaction in member.transactions:
            if transaction["guid"] == guid:
                return json_response({"transaction": transaction})
    raise _Reject(404, "Transaction not found.")


# -- the application -----------------------------------------------------------------------------


def _corrupt(payload: Any, rng: Any) -> Any:
    """Wrong values, right shape: debits and credits swap, balances turn negative."""
    if isinstance(payload, list):
        return [_corrupt(item, rng) for item in payload]
    if isinstance(payload, dict):
        out = {k: _corrupt(v, rng) for k, v in payload.items()}
        if out.get("type") in ("DEBIT", "CREDIT"):
            out["type"] = "CREDIT" if out["type"] == "DEBIT" else "DEBIT"
        for name in ("balance", "available_balance"):
            if isinstance(out.get(name), float):
                out[name] = -out[name]
        return out
    return payload


def create_app(
    faults: Faults | None = None,
    *,
    clock: Callable[[], float] = time.time,
    client_id: str | None = None,
    api_key: str | None = None,
) -> web.Application:
    """The MX Platform API emulator application.

    Args:
        faults: Faults to inject; ``faults.seed`` also seeds the generated data and guids.
        clock: Wall-clock seconds, which decide "today" for generated transactions and the
            default date range.
        client_id: When given (with ``api_key``), the only Basic auth accepted; otherwise any
            non-empty client id and API key are.
        api_key: See ``client_id``.
    """
    faults = faults or Faults()
    app = emulator_app(faults, error_body=error_body, corrupt=_corrupt)
    app.middlewares.append(_guard)
    app[_STATE] = SandboxState(seed=faults.seed, clock=clock, client_id=client_id, api_key=api_key)
    routes = app.router
    routes.add_post("/users", _create_user)
    routes.add_get("/users", _list_users)
    routes.add_get("/users/{user_guid}", _read_user)
    routes.add_put("/users/{user_guid}", _update_user)
    routes.add_delete("/users/{user_guid}", _delete_user)
    routes.add_get("/institutions", _list_institutions)
    routes.add_get("/institutions/{institution_code}", _read_institution)
    routes.add_get("/institutions/{institution_code}/credentials", _institution_credentials)
    member = "/users/{user_guid}/members/{member_guid}"
    routes.add_post("/users/{user_guid}/members", _create_member)
    routes.add_get("/users/{user_guid}/members", _list_members)
    routes.add_get(member, _read_member)
    routes.add_put(member, _update_member)
    routes.add_delete(member, _delete_member)
    routes.add_get(member + "/status", _member_status)
    routes.add_post(member + "/aggregate", _aggregate_member)
    routes.add_get(member + "/accounts", _member_accounts)
    routes.add_get(member + "/transactions", _member_transactions)
    routes.add_get("/users/{user_guid}/accounts", _user_accounts_list)
    routes.add_get("/users/{user_guid}/accounts/{account_guid}", _read_account)
    routes.add_get("/users/{user_guid}/accounts/{account_guid}/transactions", _account_transactions)
    routes.add_get("/users/{user_guid}/transactions", _user_transactions)
    routes.add_get("/users/{user_guid}/transactions/{transaction_guid}", _read_transaction)
    return app
