"""The Plaid emulator, over real HTTP on 127.0.0.1: validation, state, paging and faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from polysource.config import Secret
from polysource.connections import Connection
from polysource.datasets import TRANSACTIONS
from polysource.emulation import Faults, serve
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import OperationCall, Request
from polysource.operations import (
    CREATE_LINK,
    EXCHANGE_TOKEN,
    GET_ACCOUNTS,
    SYNC_TRANSACTIONS,
    CreateLink,
    ExchangeToken,
    GetAccounts,
    SyncTransactions,
)
from polysource_plaid import PlaidApiError
from polysource_plaid.emulator import ERRORS, create_app

from .conftest import CLIENT_ID, SECRET, plaid_error

NOW = 1732723200.0  # 2024-11-27 16:00 UTC
PRELINKED = "access-sandbox-prelinked-0001"
HEADERS = {"PLAID-CLIENT-ID": CLIENT_ID, "PLAID-SECRET": SECRET}


def _app(**kwargs: Any):
    faults = kwargs.pop("faults", Faults(seed=5))
    return create_app(faults, clock=lambda: NOW, items={PRELINKED: "ins_109508"}, **kwargs)


@pytest.fixture
async def emulator() -> AsyncIterator[str]:
    """A fresh emulator's base URL."""
    async with serve(_app()) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP session."""
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict | None = None
) -> tuple[int, dict]:
    async with http.post(url, json=body, headers=HEADERS if headers is None else headers) as resp:
        return resp.status, await resp.json()


def _conn(token: str = PRELINKED, cursor: str | None = None) -> Connection:
    return Connection("user-1", "plaid", None, Secret.of(token), "ins_109508", cursor)


async def _sync(provider, cursor: str | None = None, token: str = PRELINKED):
    call = OperationCall(SYNC_TRANSACTIONS, "US", "user-1", _conn(token, cursor))
    return await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), call)


async def test_link_flow_through_the_provider(emulator, make_provider) -> None:
    """create_link (sandbox shortcut), get_accounts and a paged sync all work end to end."""
    provider = make_provider(base_url=emulator, page_size=7)
    link = await provider.execute(
        CREATE_LINK, CreateLink(institution="ins_43"), OperationCall(CREATE_LINK, "CA", "user-1")
    )
    token = link.access_token.reveal()
    assert link.status == "active" and token.startswith("access-sandbox-")
    accounts = await provider.execute(
        GET_ACCOUNTS, GetAccounts(), OperationCall(GET_ACCOUNTS, "CA", "user-1", _conn(token))
    )
    result = await _sync(provider, token=token)
    assert [a.subtype for a in accounts.accounts] == ["checking", "savings", "credit card"]
    assert {a.currency for a in accounts.accounts} == {"CAD"}
    assert len(result.transactions) > 7 and result.cursor  # several pages were followed
    assert {t.account_id for t in result.transactions} == {a.account_id for a in accounts.accounts}


async def test_pending_link_token_then_exchange(emulator, http, make_provider) -> None:
    """Without an institution create_link is pending; a public token exchanges once only."""
    provider = make_provider(base_url=emulator)
    pending = await provider.execute(
        CREATE_LINK, CreateLink(), OperationCall(CREATE_LINK, "US", "user-1")
    )
    assert pending.status == "pending" and pending.link_token.reveal().startswith("link-sandbox-")
    status, created = await _post(
        http,
        f"{emulator}/sandbox/public_token/create",
        {"institution_id": "ins_109511", "initial_products": ["transactions"]},
    )
    assert status == 200
    public = ExchangeToken(Secret.of(created["public_token"]))
    call = OperationCall(EXCHANGE_TOKEN, "US", "user-1")
    link = await provider.execute(EXCHANGE_TOKEN, public, call)
    assert link.status == "active" and link.link_id
    with pytest.raises(ProviderError) as caught:
        await provider.execute(EXCHANGE_TOKEN, public, call)
    assert caught.value.category is ErrorCategory.INVALID_REQUEST
    assert caught.value.error_code == "INVALID_PUBLIC_TOKEN"


async def test_credentials_in_the_body_are_accepted(emulator, http) -> None:
    """The emulator takes client_id/secret in the body as well as in headers."""
    body = {"client_id": "c", "secret": "s", "access_token": PRELINKED}
    status, answer = await _post(http, f"{emulator}/accounts/get", body, headers={})
    assert status == 200 and len(answer["accounts"]) == 3 and answer["request_id"]


@pytest.mark.parametrize(
    ("path", "body", "headers", "code"),
    [
        ("/accounts/get", {"access_token": PRELINKED}, {}, "MISSING_FIELDS"),
        ("/accounts/get", {}, None, "MISSING_FIELDS"),
        ("/accounts/get", {"access_token": PRELINKED, "colour": "red"}, None, "UNKNOWN_FIELDS"),
        ("/accounts/get", {"access_token": "access-sandbox-nope"}, None, "INVALID_ACCESS_TOKEN"),
        (
            "/accounts/get",
            {"access_token": PRELINKED, "options": {"account_ids": ["nope"]}},
            None,
            "INVALID_ACCOUNT_ID",
        ),
        ("/transactions/sync", {"access_token": PRELINKED, "count": 501}, None, "INVALID_FIELD"),
        (
            "/transactions/sync",
            {"access_token": PRELINKED, "cursor": "junk"},
            None,
            "INVALID_FIELD",
        ),
        (
            "/link/token/create",
            {
                "client_name": "x",
                "language": "en",
                "country_codes": ["XX"],
                "user": {"client_user_id": "u"},
            },
            None,
            "INVALID_FIELD",
        ),
        (
            "/link/token/create",
            {"client_name": "x", "language": "en", "country_codes": ["US"], "user": {}},
            None,
            "MISSING_FIELDS",
        ),
        (
            "/sandbox/public_token/create",
            {"institution_id": "ins_999", "initial_products": ["transactions"]},
            None,
            "INVALID_INSTITUTION",
        ),
        (
            "/item/public_token/exchange",
            {"public_token": "public-sandbox-x"},
            None,
            "INVALID_PUBLIC_TOKEN",
        ),
    ],
)
async def test_requests_are_validated_like_plaid(emulator, http, path, body, headers, code) -> None:
    """Bad requests get Plaid's error object with the right code, type and status."""
    status, answer = await _post(http, emulator + path, body, headers)
    error_type, expected_status, _ = ERRORS[code]
    assert status == expected_status == answer["status"]
    assert (answer["error_type"], answer["error_code"]) == (error_type, code)
    assert {"error_message", "display_message", "request_id"} <= set(answer)


async def test_body_that_is_not_a_json_object_is_invalid_body(emulator, http) -> None:
    """Non-JSON bodies are INVALID_BODY."""
    async with http.post(f"{emulator}/accounts/get", data=b"[1", headers=HEADERS) as resp:
        answer = await resp.json()
    assert resp.status == 400 and answer["error_code"] == "INVALID_BODY"


async def test_configured_credentials_reject_other_keys(make_provider) -> None:
    """With credentials configured, a wrong secret is INVALID_API_KEYS, which is auth."""
    async with serve(_app(credentials={CLIENT_ID: "the-right-secret"})) as url:
        provider = make_provider(base_url=url)
        with pytest.raises(PlaidApiError) as caught:
            await provider.execute(
                GET_ACCOUNTS, GetAccounts(), OperationCall(GET_ACCOUNTS, "US", "u", _conn())
            )
    assert caught.value.error_code == "INVALID_API_KEYS"
    assert caught.value.category is ErrorCategory.AUTH and SECRET not in str(caught.value)


async def test_unknown_path_is_not_found(emulator, make_provider) -> None:
    """A path the API does not have answers 404, which is not_found."""
    provider = make_provider(base_url=emulator + "/v2")
    with pytest.raises(ProviderError) as caught:
        await provider.execute(
            GET_ACCOUNTS, GetAccounts(), OperationCall(GET_ACCOUNTS, "US", "u", _conn())
        )
    assert caught.value.category is ErrorCategory.NOT_FOUND


@pytest.mark.parametrize(
    ("password", "category"),
    [
        ("error_INVALID_CREDENTIALS", "auth"),
        ("error_ITEM_LOCKED", "auth"),
        ("error_INSTITUTION_DOWN", "provider_down"),
        ("error_INSTITUTION_NOT_RESPONDING", "provider_down"),
        ("error_PRODUCT_NOT_READY", "provider_down"),
        ("error_INTERNAL_SERVER_ERROR", "provider_down"),
        ("error_RATE_LIMIT", "rate_limit"),
    ],
)
async def test_sandbox_error_passwords_fail_create_link(
    emulator, make_provider, password, category
) -> None:
    """Sandbox's error_<CODE> password fails the link with that code's category."""
    provider = make_provider(base_url=emulator)
    params = CreateLink(
        institution="ins_109508", username=Secret.of("user_good"), password=Secret.of(password)
    )
    with pytest.raises(PlaidApiError) as caught:
        await provider.execute(CREATE_LINK, params, OperationCall(CREATE_LINK, "US", "u"))
    assert caught.value.category is ErrorCategory(category)
    assert caught.value.error_code == password.removeprefix("error_")


async def test_reset_login_makes_reads_need_a_relink(emulator, http, make_provider) -> None:
    """/sandbox/item/reset_login puts the item in ITEM_LOGIN_REQUIRED: auth, needs_relink."""
    status, _ = await _post(
        http, f"{emulator}/sandbox/item/reset_login", {"access_token": PRELINKED}
    )
    assert status == 200
    with pytest.raises(PlaidApiError) as caught:
        await _sync(make_provider(base_url=emulator))
    assert caught.value.category is ErrorCategory.AUTH and caught.value.needs_relink


async def test_sync_resumes_after_new_activity(emulator, http, make_provider) -> None:
    """After /transactions/refresh, a sync from the saved cursor returns only the changes."""
    provider = make_provider(base_url=emulator)
    first = await _sync(provider)
    await _post(http, f"{emulator}/transactions/refresh", {"access_token": PRELINKED})
    await _post(
        http,
        f"{emulator}/sandbox/transactions/create",
        {
            "access_token": PRELINKED,
            "transactions": [
                {
                    "date_transacted": "2024-11-26",
                    "date_posted": "2024-11-27",
                    "amount": 12.34,
                    "description": "Corner Shop",
                }
            ],
        },
    )
    second = await _sync(provider, first.cursor)
    names = [t.description for t in second.transactions]
    assert "Corner Shop" in names and len(second.transactions) == 4  # 2 new, 1 posted, 1 custom
    assert len(second.removed) == 1 and second.removed[0] in {
        t.transaction_id for t in first.transactions
    }
    posted = [
        t
        for t in second.transactions
        if t.transaction_id in {x.transaction_id for x in first.transactions}
    ]
    assert len(posted) == 1 and not posted[0].pending
    again = await _sync(provider, second.cursor)
    assert again.transactions == () and again.removed == () and again.cursor == second.cursor


async def test_failure_on_page_two_then_resume_from_the_last_good_cursor(make_provider) -> None:
    """A 500 on page 2 fails the sync; a later sync from the saved cursor gets every change."""
    app = _app()
    syncs = 0

    @web.middleware
    async def fail_second_page_once(request: web.Request, handler) -> web.StreamResponse:
        nonlocal syncs
        if request.path == "/transactions/sync":
            syncs += 1
            if syncs == 3:  # the first sync is one page; the second sync's page 2 fails
                error = {**plaid_error("API_ERROR", "INTERNAL_SERVER_ERROR", 500)}
                return web.json_response(error, status=500)
        return await handler(request)

    app.middlewares.append(fail_second_page_once)
    async with serve(app) as url, aiohttp.ClientSession() as http:
        provider = make_provider(base_url=url)
        first = await _sync(provider)
        await _post(http, f"{url}/transactions/refresh", {"access_token": PRELINKED})
        paged = make_provider(base_url=url, page_size=2)
        with pytest.raises(ProviderError) as caught:
            await _sync(paged, first.cursor)
        resumed = await _sync(paged, first.cursor)
    assert caught.value.category is ErrorCategory.PROVIDER_DOWN and syncs >= 5
    assert len(resumed.transactions) == 3 and len(resumed.removed) == 1  # 2 new, 1 posted
    assert resumed.cursor != first.cursor


async def test_mutation_during_paging_is_refused_and_the_provider_restarts(emulator, http) -> None:
    """A mid-run cursor issued before a change is refused with the mutation error."""
    status, page1 = await _post(
        http, f"{emulator}/transactions/sync", {"access_token": PRELINKED, "count": 5}
    )
    assert status == 200 and page1["has_more"]
    await _post(http, f"{emulator}/transactions/refresh", {"access_token": PRELINKED})
    status, answer = await _post(
        http,
        f"{emulator}/transactions/sync",
        {"access_token": PRELINKED, "count": 5, "cursor": page1["next_cursor"]},
    )
    assert status == 400
    assert answer["error_code"] == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
    assert answer["error_type"] == "TRANSACTIONS_ERROR"


async def test_sync_by_account_returns_only_that_account(emulator, make_provider) -> None:
    """options.account_id scopes the sync; fetch(transactions, <account id>) uses it."""
    provider = make_provider(base_url=emulator, page_size=4)
    accounts = await provider.execute(
        GET_ACCOUNTS, GetAccounts(), OperationCall(GET_ACCOUNTS, "US", "u", _conn())
    )
    savings = accounts.accounts[1].account_id
    result = await provider.fetch(Request(TRANSACTIONS, savings, "US", connection=_conn()))
    assert result.transactions and {t.account_id for t in result.transactions} == {savings}
    with pytest.raises(ProviderError) as caught:
        await provider.fetch(Request(TRANSACTIONS, "nope", "US", connection=_conn()))
    assert caught.value.category is ErrorCategory.NOT_FOUND


async def test_same_seed_same_data_other_seed_other_data(make_provider) -> None:
    """Generated accounts and transactions depend on the seed only."""
    results = []
    for seed in (5, 5, 6):
        async with serve(_app(faults=Faults(seed=seed))) as url:
            results.append(await _sync(make_provider(base_url=url)))
    assert results[0] == results[1] and results[0] != results[2]


@pytest.mark.parametrize(
    ("faults", "category"),
    [
        ({"outage": True}, "provider_down"),
        ({"rate_limit_rate": 1.0, "retry_after": 3}, "rate_limit"),
        ({"error_rate": 1.0}, "provider_down"),
        ({"malformed_rate": 1.0}, "invalid_response"),
    ],
)
async def test_injected_faults_map_to_the_taxonomy(make_provider, faults, category) -> None:
    """Outage, 429, 500 and truncated JSON from the emulator map to their categories."""
    async with serve(_app(faults=Faults(seed=1, **faults))) as url:
        with pytest.raises(ProviderError) as caught:
            await _sync(make_provider(base_url=url))
    assert caught.value.category is ErrorCategory(category)
    if category == "rate_limit":
        assert caught.value.retry_after == 3.0


async def test_wrong_values_fault_keeps_the_shape(make_provider) -> None:
    """wrong_values flips amounts' signs but the answer still maps."""
    async with serve(_app()) as url:
        good = await _sync(make_provider(base_url=url))
    async with serve(_app(faults=Faults(seed=5, wrong_values_rate=1.0))) as url:
        bad = await _sync(make_provider(base_url=url))
    assert [t.amount for t in bad.transactions] == [-t.amount for t in good.transactions]


async def test_emulator_counts_requests(emulator, http, make_provider) -> None:
    """The control endpoint sees each Plaid call by path."""
    await _sync(make_provider(base_url=emulator, page_size=100))
    async with http.get(f"{emulator}/_emulator/stats") as resp:
        stats = await resp.json()
    assert stats["requests"] == {"/transactions/sync": 1}
