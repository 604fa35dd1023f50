"""The MX emulator: paths, auth, validation, paging, sandbox logins, state and faults."""

from __future__ import annotations

import base64
import datetime as dt
import math

import aiohttp
import pytest

from polysource.config import Secret
from polysource.connections import Connection
from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import OperationCall
from polysource.operations import (
    CREATE_LINK,
    GET_ACCOUNTS,
    SYNC_TRANSACTIONS,
    CreateLink,
    GetAccounts,
    SyncTransactions,
)
from polysource_mx.emulator import create_app

from .conftest import WALL

ACCEPT = "application/vnd.mx.api.v1+json"
AUTH = "Basic " + base64.b64encode(b"client:key").decode()
HEADERS = {"Authorization": AUTH, "Accept": ACCEPT}


def _app(**faults):
    return create_app(Faults(**faults), clock=lambda: WALL)


async def _request(url, method, path, *, headers=HEADERS, json=None, params=None):
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url + path, headers=headers, json=json, params=params) as resp,
    ):
        body = await resp.json(content_type=None) if resp.status != 204 else None
        return resp.status, body, resp.headers


async def _linked_user(url, password="password", partner_id="u-1"):
    _, body, _ = await _request(url, "POST", "/users", json={"user": {"id": partner_id}})
    user_guid = body["user"]["guid"]
    _, creds, _ = await _request(url, "GET", "/institutions/mxbank/credentials")
    login, secret = (c["guid"] for c in creds["credentials"])
    member = {
        "institution_code": "mxbank",
        "credentials": [{"guid": login, "value": "mxuser"}, {"guid": secret, "value": password}],
    }
    status, body, _ = await _request(
        url, "POST", f"/users/{user_guid}/members", json={"member": member}
    )
    return user_guid, status, body["member"]


async def test_basic_auth_and_version_header_are_required() -> None:
    """No Basic auth is 401, no versioned Accept header is 406, both with MX's error body."""
    async with serve(_app()) as url:
        status, body, _ = await _request(url, "GET", "/users", headers={"Accept": ACCEPT})
        assert status == 401 and "message" in body["error"]
        status, body, _ = await _request(
            url, "GET", "/users", headers={"Authorization": AUTH, "Accept": "application/json"}
        )
        assert status == 406 and ACCEPT in body["error"]["message"]


async def test_configured_credentials_are_the_only_ones_accepted() -> None:
    """With a client id and key given, other Basic credentials are 401."""
    app = create_app(Faults(), client_id="id-1", api_key="key-1")
    good = "Basic " + base64.b64encode(b"id-1:key-1").decode()
    async with serve(app) as url:
        status, _, _ = await _request(url, "GET", "/users")
        assert status == 401
        status, _, _ = await _request(
            url, "GET", "/users", headers={"Authorization": good, "Accept": ACCEPT}
        )
        assert status == 200


async def test_users_are_unique_by_partner_id_and_filtered() -> None:
    """A second user with the same id is 409; GET /users?id= finds the first."""
    async with serve(_app()) as url:
        status, created, _ = await _request(url, "POST", "/users", json={"user": {"id": "a"}})
        assert status == 200 and created["user"]["guid"].startswith("USR-")
        status, body, _ = await _request(url, "POST", "/users", json={"user": {"id": "a"}})
        assert status == 409 and body["error"]["message"]
        status, body, _ = await _request(url, "POST", "/users", json={"user": {}})
        assert status == 400
        _, listed, _ = await _request(url, "GET", "/users", params={"id": "a"})
        assert [u["guid"] for u in listed["users"]] == [created["user"]["guid"]]
        assert listed["pagination"] == {
            "current_page": 1,
            "per_page": 25,
            "total_entries": 1,
            "total_pages": 1,
        }
        status, _, _ = await _request(url, "GET", "/users/USR-nope")
        assert status == 404


async def test_sandbox_login_connects_with_accounts_and_transactions() -> None:
    """mxuser/password connects at once (202) and gets accounts and paged transactions."""
    async with serve(_app(seed=3)) as url:
        user_guid, status, member = await _linked_user(url)
        assert status == 202 and member["connection_status"] == "CONNECTED"
        assert member["most_recent_job_detail_text"] is None
        assert member["most_recent_job_guid"] is None
        base = f"/users/{user_guid}/members/{member['guid']}"
        _, accounts, _ = await _request(url, "GET", base + "/accounts")
        assert [a["type"] for a in accounts["accounts"]] == ["CHECKING", "SAVINGS", "CREDIT_CARD"]
        _, page, _ = await _request(
            url, "GET", base + "/transactions", params={"records_per_page": "10", "page": "2"}
        )
        assert len(page["transactions"]) == 10
        assert page["pagination"]["current_page"] == 2 and page["pagination"]["total_pages"] > 2
        first = page["transactions"][0]
        assert isinstance(first["amount"], float) and first["type"] in ("DEBIT", "CREDIT")
        oldest = dt.datetime.fromtimestamp(WALL, dt.UTC).date() - dt.timedelta(days=120)
        _, everything, _ = await _request(
            url, "GET", base + "/transactions", params={"records_per_page": "1000"}
        )
        assert min(t["date"] for t in everything["transactions"]) >= oldest.isoformat()


@pytest.mark.parametrize(
    ("password", "status"),
    [("challenge", "CHALLENGED"), ("UNAUTHORIZED", "DENIED"), ("LOCKED", "LOCKED")],
)
async def test_sandbox_passwords_pick_the_connection_status(password, status) -> None:
    """mxbank's test passwords give MX's documented connection statuses, and no data."""
    async with serve(_app()) as url:
        user_guid, _, member = await _linked_user(url, password)
        assert member["connection_status"] == status
        _, accounts, _ = await _request(url, "GET", f"/users/{user_guid}/accounts")
        assert accounts["accounts"] == []


async def test_member_validation() -> None:
    """Unknown institutions are 404, missing credentials 400, foreign guids 422, twins 409."""
    async with serve(_app()) as url:
        _, body, _ = await _request(url, "POST", "/users", json={"user": {"id": "u"}})
        path = f"/users/{body['user']['guid']}/members"
        cases = [
            ({"institution_code": "nope", "credentials": []}, 404),
            ({"institution_code": "mxbank", "credentials": []}, 400),
            ({"institution_code": "mxbank", "credentials": [{"guid": "CRD-x", "value": "v"}]}, 422),
            ({"credentials": []}, 400),
        ]
        for member, expected in cases:
            status, _, _ = await _request(url, "POST", path, json={"member": member})
            assert status == expected, member


async def test_records_per_page_bounds() -> None:
    """Above 1000 records per page falls back to 25; below 10 is raised to 10."""
    async with serve(_app()) as url:
        for asked, used in (("5000", 25), ("3", 10), ("1000", 1000)):
            _, body, _ = await _request(
                url, "GET", "/institutions", params={"records_per_page": asked}
            )
            assert body["pagination"]["per_page"] == used
        status, _, _ = await _request(url, "GET", "/institutions", params={"page": "x"})
        assert status == 400


async def test_state_is_per_application_and_data_follows_the_seed() -> None:
    """Two apps with one seed give the same guids and amounts; their users are separate."""
    answers = []
    for _ in range(2):
        async with serve(_app(seed=9)) as url:
            user_guid, _, member = await _linked_user(url)
            _, page, _ = await _request(url, "GET", f"/users/{user_guid}/transactions")
            answers.append((user_guid, member["guid"], page["transactions"][:5]))
    assert answers[0] == answers[1]
    async with serve(_app(seed=10)) as url:
        user_guid, _, _ = await _linked_user(url)
    assert user_guid != answers[0][0]


async def test_injected_errors_use_the_mx_error_body() -> None:
    """An injected 500 answers MX's error body, and the provider maps it to provider_down."""
    app = _app(error_rate=1.0, error_status=500)
    async with serve(app) as url:
        status, body, _ = await _request(url, "GET", "/users")
        assert status == 500 and body == {"error": {"message": "Internal Server Error"}}
    assert app[EMULATOR_STATE].injected["error"] == 1


async def _provider_against(make_provider, url):
    provider = make_provider(base_url=url)
    params = CreateLink("mxbank", Secret.of("mxuser"), Secret.of("password"))
    link = await provider.execute(CREATE_LINK, params, OperationCall(CREATE_LINK, "US", "u-1"))
    connection = Connection("u-1", "mx", link.link_id, link.access_token, link.institution)
    return provider, connection


async def test_faults_reach_the_provider_as_their_categories(make_provider) -> None:
    """Rate limits (with Retry-After), outages and malformed JSON map to their categories."""
    app = _app()
    state = app[EMULATOR_STATE]
    async with serve(app) as url:
        provider, connection = await _provider_against(make_provider, url)
        call = OperationCall(GET_ACCOUNTS, "US", "u-1", connection)
        for faults, category in (
            (Faults(rate_limit_rate=1.0, retry_after=3), ErrorCategory.RATE_LIMIT),
            (Faults(outage=True), ErrorCategory.PROVIDER_DOWN),
            (Faults(malformed_rate=1.0), ErrorCategory.INVALID_RESPONSE),
        ):
            state.set_faults(faults)
            with pytest.raises(ProviderError) as info:
                await provider.execute(GET_ACCOUNTS, GetAccounts(), call)
            assert info.value.category is category
            if category is ErrorCategory.RATE_LIMIT:
                assert info.value.retry_after == 3.0
        state.set_faults(Faults())
        accounts = await provider.execute(GET_ACCOUNTS, GetAccounts(), call)
        assert len(accounts.accounts) == 3


async def test_wrong_values_swap_debits_and_credits(make_provider) -> None:
    """The wrong-values fault keeps the shape but flips every transaction's direction."""
    app = _app()
    async with serve(app) as url:
        provider, connection = await _provider_against(make_provider, url)
        call = OperationCall(SYNC_TRANSACTIONS, "US", "u-1", connection)
        clean = await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), call)
        app[EMULATOR_STATE].set_faults(Faults(wrong_values_rate=1.0))
        flipped = await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), call)
    amounts = {t.transaction_id: t.amount for t in clean.transactions}
    assert amounts and all(amounts[t.transaction_id] == -t.amount for t in flipped.transactions)


async def test_provider_pages_through_the_emulator(make_provider) -> None:
    """With 10 records per page the provider follows every page and sees every transaction."""
    async with serve(_app(seed=2)) as url:
        provider, connection = await _provider_against(make_provider, url)
        small = make_provider(base_url=url, records_per_page=10)
        call = OperationCall(SYNC_TRANSACTIONS, "US", "u-1", connection)
        big = await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), call)
        paged = await small.execute(SYNC_TRANSACTIONS, SyncTransactions(), call)
        _, stats, _ = await _request(url, "GET", "/_emulator/stats")
    count = len(big.transactions)
    assert count > 30
    assert sorted(t.transaction_id for t in paged.transactions) == sorted(
        t.transaction_id for t in big.transactions
    )
    member_path = f"/users/{connection.access_token.reveal()}/members/{connection.link_id}"
    pages = math.ceil(count / 100) + math.ceil(count / 10)
    assert stats["requests"][member_path + "/transactions"] == pages


async def test_relinking_updates_the_member(make_provider) -> None:
    """Linking the tenant again reuses its user and member, with the new password's status."""
    async with serve(_app()) as url:
        provider, connection = await _provider_against(make_provider, url)
        params = CreateLink("mxbank", Secret.of("mxuser"), Secret.of("challenge"))
        again = await provider.execute(CREATE_LINK, params, OperationCall(CREATE_LINK, "US", "u-1"))
    assert again.link_id == connection.link_id and again.status == "pending"
    assert again.access_token.reveal() == connection.access_token.reveal()
