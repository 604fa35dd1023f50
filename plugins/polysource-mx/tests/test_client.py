"""The MX provider's wire calls, against documented-shape answers (aioresponses)."""

from __future__ import annotations

import base64
import re

import aiohttp
import orjson
import pytest
from aioresponses import aioresponses
from yarl import URL

from polysource.config import Secret
from polysource.datasets import ACCOUNTS, TRANSACTIONS
from polysource.errors import ConfigError, ErrorCategory, ProviderError
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

from .conftest import API_KEY, CLIENT_ID, MEMBER_GUID, USER_GUID, connection
from .payloads import (
    CARD,
    CARD_GUID,
    CHECKING_GUID,
    CREDENTIALS,
    LOGIN_GUID,
    PASSWORD_GUID,
    account,
    accounts_page,
    member,
    members,
    pages_of,
    transaction,
    transactions_page,
    user,
    users,
)

BASE = "https://api.mx.com"
ACCEPT = "application/vnd.mx.api.v1+json"
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{API_KEY}".encode()).decode()
MEMBER_TX = f"{BASE}/users/{USER_GUID}/members/{MEMBER_GUID}/transactions"
MEMBER_ACCOUNTS = f"{BASE}/users/{USER_GUID}/members/{MEMBER_GUID}/accounts"
ANY_MEMBER_TX = re.compile(re.escape(MEMBER_TX) + r"\?.*")
PASSWORD = "hunter2-bank-password"
USERNAME = "mxuser"


@pytest.fixture
def wire():
    """Intercepted aiohttp calls."""
    with aioresponses() as mocked:
        yield mocked


def _calls(wire: aioresponses, method: str, url: str) -> list:
    return wire.requests.get((method, URL(url)), [])


def _body(call) -> dict:
    return orjson.loads(call.kwargs["data"])


def _call(operation, connection=None, deadline=None) -> OperationCall:
    return OperationCall(operation, "US", "user-1", connection, deadline)


def _link_params(institution: str = "mxbank") -> CreateLink:
    return CreateLink(institution, Secret.of(USERNAME), Secret.of(PASSWORD))


def _tx_url(page: int, per_page: int = 100, since: str = "2023-11-03", until: str | None = None):
    query = f"from_date={since}&page={page}&records_per_page={per_page}"
    if until:
        query += f"&to_date={until}"
    return f"{MEMBER_TX}?{query}"


def _accounts_url(page: int, per_page: int = 100) -> str:
    return f"{MEMBER_ACCOUNTS}?page={page}&records_per_page={per_page}"


def _mock_link(wire: aioresponses, status: str = "CONNECTED") -> None:
    wire.post(f"{BASE}/users", payload=user())
    wire.get(
        f"{BASE}/institutions/mxbank/credentials?page=1&records_per_page=100", payload=CREDENTIALS
    )
    wire.post(f"{BASE}/users/{USER_GUID}/members", payload=member(status), status=202)


# -- create_link ---------------------------------------------------------------------------------


async def test_create_link_makes_the_user_then_the_member(wire, make_provider) -> None:
    """The tenant becomes a user, the login a member with the institution's credential guids."""
    _mock_link(wire)
    link = await make_provider().execute(CREATE_LINK, _link_params(), _call(CREATE_LINK))
    assert (link.provider, link.link_id, link.status, link.institution) == (
        "mx",
        MEMBER_GUID,
        "active",
        "mxbank",
    )
    assert link.access_token.reveal() == USER_GUID
    (create_user,) = _calls(wire, "POST", f"{BASE}/users")
    assert _body(create_user)["user"]["id"] == "user-1"
    headers = create_user.kwargs["headers"]
    assert headers["Authorization"] == BASIC
    assert headers["Accept"] == ACCEPT and headers["Content-Type"] == "application/json"
    (create_member,) = _calls(wire, "POST", f"{BASE}/users/{USER_GUID}/members")
    sent = _body(create_member)["member"]
    assert sent["institution_code"] == "mxbank" and sent["id"] == "user-1:mxbank"
    assert sent["credentials"] == [
        {"guid": LOGIN_GUID, "value": USERNAME},
        {"guid": PASSWORD_GUID, "value": PASSWORD},
    ]


async def test_create_link_is_pending_until_connected(wire, make_provider) -> None:
    """A member still CHALLENGED (answered 202) is a pending link, with its tokens."""
    _mock_link(wire, "CHALLENGED")
    link = await make_provider().execute(CREATE_LINK, _link_params(), _call(CREATE_LINK))
    assert link.status == "pending" and link.link_id == MEMBER_GUID
    assert link.access_token.reveal() == USER_GUID


async def test_existing_user_is_looked_up_by_partner_id(wire, make_provider) -> None:
    """A 409 on POST /users means the tenant's user exists: it is found with GET /users?id=."""
    wire.post(f"{BASE}/users", status=409, payload={"error": {"message": "User already exists"}})
    wire.get(
        f"{BASE}/users?id=user-1&page=1&records_per_page=10",
        payload=users(user("user-10", "USR-other"), user()),
    )
    wire.get(
        f"{BASE}/institutions/mxbank/credentials?page=1&records_per_page=100", payload=CREDENTIALS
    )
    wire.post(f"{BASE}/users/{USER_GUID}/members", payload=member(), status=202)
    link = await make_provider().execute(CREATE_LINK, _link_params(), _call(CREATE_LINK))
    assert link.access_token.reveal() == USER_GUID


async def test_existing_member_gets_the_new_credentials(wire, make_provider) -> None:
    """A 409 on POST members finds the member by partner id and PUTs the credentials."""
    wire.post(f"{BASE}/users", payload=user())
    wire.get(
        f"{BASE}/institutions/mxbank/credentials?page=1&records_per_page=100", payload=CREDENTIALS
    )
    wire.post(
        f"{BASE}/users/{USER_GUID}/members",
        status=409,
        payload={"error": {"message": "Member already exists"}},
    )
    wire.get(
        f"{BASE}/users/{USER_GUID}/members?page=1&records_per_page=100",
        payload=members(member(partner_id="other"), member()),
    )
    wire.put(f"{BASE}/users/{USER_GUID}/members/{MEMBER_GUID}", payload=member("CONNECTED"))
    link = await make_provider().execute(CREATE_LINK, _link_params(), _call(CREATE_LINK))
    assert link.status == "active"
    (update,) = _calls(wire, "PUT", f"{BASE}/users/{USER_GUID}/members/{MEMBER_GUID}")
    assert _body(update)["member"]["credentials"][1] == {"guid": PASSWORD_GUID, "value": PASSWORD}


@pytest.mark.parametrize(
    "params",
    [
        CreateLink(None, Secret.of(USERNAME), Secret.of(PASSWORD)),
        CreateLink("mxbank", None, Secret.of(PASSWORD)),
        CreateLink("mxbank", Secret.of(USERNAME), None),
    ],
)
async def test_create_link_without_institution_or_login_is_invalid(
    wire, make_provider, params
) -> None:
    """Without an institution, username or password nothing is sent: invalid_request."""
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(CREATE_LINK, params, _call(CREATE_LINK))
    assert info.value.category is ErrorCategory.INVALID_REQUEST
    assert not wire.requests


async def test_institution_asking_for_more_fields_is_invalid(wire, make_provider) -> None:
    """An institution that needs a PIN too cannot be linked with a login and a password."""
    wire.post(f"{BASE}/users", payload=user())
    pin = {**CREDENTIALS["credentials"][1], "guid": "CRD-pin", "field_name": "PIN"}
    wire.get(
        f"{BASE}/institutions/pinbank/credentials?page=1&records_per_page=100",
        payload={"credentials": [*CREDENTIALS["credentials"], pin]},
    )
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(CREATE_LINK, _link_params("pinbank"), _call(CREATE_LINK))
    assert info.value.category is ErrorCategory.INVALID_REQUEST
    assert "3 credential field" in str(info.value)


# -- reads ---------------------------------------------------------------------------------------


async def test_get_accounts_follows_every_page(wire, make_provider) -> None:
    """Accounts are read page by page until current_page reaches total_pages."""
    wire.get(_accounts_url(1), payload=accounts_page([account()], 1, 2))
    wire.get(_accounts_url(2), payload=accounts_page([CARD], 2, 2))
    accounts = await make_provider().execute(
        GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection())
    )
    assert [a.account_id for a in accounts.accounts] == [CHECKING_GUID, CARD_GUID]
    (first,) = _calls(wire, "GET", _accounts_url(1))
    assert first.kwargs["headers"]["Authorization"] == BASIC


async def test_get_accounts_filters_asked_ids(wire, make_provider) -> None:
    """``account_ids`` keeps only those accounts."""
    wire.get(_accounts_url(1), payload=accounts_page([account(), CARD]))
    accounts = await make_provider().execute(
        GET_ACCOUNTS, GetAccounts([CARD_GUID]), _call(GET_ACCOUNTS, connection())
    )
    assert [a.account_id for a in accounts.accounts] == [CARD_GUID]


async def test_sync_follows_every_page_from_120_days_back(wire, make_provider) -> None:
    """Sync asks from the clock's date minus 120 days, every page; the cursor is the last date."""
    items = [
        transaction(f"TRN-{i}", 10.0 + i, "DEBIT" if i % 2 else "CREDIT", f"2024-02-{i + 1:02d}")
        for i in range(25)
    ]
    for page, payload in enumerate(pages_of(items, 10), start=1):
        wire.get(_tx_url(page), payload=payload)
    result = await make_provider().execute(
        SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, connection())
    )
    assert len(result.transactions) == 25
    assert result.cursor == "2024-02-25"
    assert result.removed == ()
    by_id = {t.transaction_id: t for t in result.transactions}
    assert by_id["TRN-1"].amount > 0 and by_id["TRN-2"].amount < 0
    assert len(_calls(wire, "GET", _tx_url(3))) == 1


async def test_sync_sends_since_until_and_page_size(wire, make_provider) -> None:
    """Explicit dates become from_date/to_date; records_per_page is the option."""
    import datetime as dt

    url = _tx_url(1, per_page=250, since="2024-01-01", until="2024-01-31")
    wire.get(url, payload=transactions_page([transaction("TRN-1", 5.0, "DEBIT", "2024-01-05")]))
    params = SyncTransactions(since=dt.date(2024, 1, 1), until=dt.date(2024, 1, 31))
    result = await make_provider(records_per_page=250).execute(
        SYNC_TRANSACTIONS, params, _call(SYNC_TRANSACTIONS, connection())
    )
    assert result.cursor == "2024-01-05"


async def test_sync_resumes_from_the_connection_cursor(wire, make_provider) -> None:
    """Without dates, the connection's cursor (a date) is where the sync starts."""
    wire.get(_tx_url(1, since="2024-02-20"), payload=transactions_page([]))
    result = await make_provider().execute(
        SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, connection("2024-02-20"))
    )
    assert result.transactions == () and result.cursor == "2024-02-20"


async def test_failure_on_page_two_raises_then_a_later_sync_resumes(wire, make_provider) -> None:
    """A 503 on page 2 fails the sync; the next one from the last good cursor gets every page."""
    provider = make_provider()
    first = transactions_page([transaction("TRN-1", 1.0, "DEBIT", "2024-02-10")])
    wire.get(_tx_url(1), payload=first)
    good = await provider.execute(
        SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, connection())
    )
    assert good.cursor == "2024-02-10"
    pages = pages_of(
        [transaction(f"TRN-{i}", 1.0, "DEBIT", f"2024-02-{10 + i:02d}") for i in range(4)], 2
    )
    wire.get(_tx_url(1, since=good.cursor), payload=pages[0])
    wire.get(_tx_url(2, since=good.cursor), status=503, payload={"error": {"message": "down"}})
    with pytest.raises(ProviderError) as info:
        await provider.execute(
            SYNC_TRANSACTIONS,
            SyncTransactions(cursor=good.cursor),
            _call(SYNC_TRANSACTIONS, connection()),
        )
    assert info.value.category is ErrorCategory.PROVIDER_DOWN
    wire.get(_tx_url(1, since=good.cursor), payload=pages[0])
    wire.get(_tx_url(2, since=good.cursor), payload=pages[1])
    resumed = await provider.execute(
        SYNC_TRANSACTIONS,
        SyncTransactions(cursor=good.cursor),
        _call(SYNC_TRANSACTIONS, connection()),
    )
    assert [t.transaction_id for t in resumed.transactions] == [f"TRN-{i}" for i in range(4)]
    assert resumed.cursor == "2024-02-13"


async def test_deadline_is_checked_before_each_page(wire, make_provider, clock) -> None:
    """A page that takes past the deadline stops the sync with timeout before the next page."""
    pages = pages_of([transaction(f"TRN-{i}", 1.0, "DEBIT", "2024-02-01") for i in range(30)], 10)

    async def slow(url, **kwargs):
        await clock.advance(6.0)

    wire.get(_tx_url(1), payload=pages[0], callback=slow)
    wire.get(_tx_url(2), payload=pages[1])
    call = _call(SYNC_TRANSACTIONS, connection(), deadline=clock.monotonic() + 5.0)
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(SYNC_TRANSACTIONS, SyncTransactions(), call)
    assert info.value.category is ErrorCategory.TIMEOUT
    assert "page 2" in str(info.value)
    assert not _calls(wire, "GET", _tx_url(2))


async def test_a_repeated_page_stops_paging(wire, make_provider) -> None:
    """An answer for another page than asked (paging that would never end) is invalid_response."""
    stuck = transactions_page([transaction("TRN-1", 1.0, "DEBIT", "2024-02-01")], 1, 5)
    wire.get(_tx_url(1), payload=stuck)
    wire.get(_tx_url(2), payload=stuck)
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(
            SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, connection())
        )
    assert info.value.category is ErrorCategory.INVALID_RESPONSE
    assert len(_calls(wire, "GET", _tx_url(2))) == 1


async def test_bad_cursor_is_invalid_request(wire, make_provider) -> None:
    """A cursor that is not a date is the caller's error."""
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(
            SYNC_TRANSACTIONS,
            SyncTransactions(cursor="abc"),
            _call(SYNC_TRANSACTIONS, connection()),
        )
    assert info.value.category is ErrorCategory.INVALID_REQUEST


# -- fetch ---------------------------------------------------------------------------------------


async def test_fetch_accounts_all_one_and_unknown(wire, make_provider) -> None:
    """``all`` is every account, an account guid one of them, an unknown guid not_found."""
    wire.get(_accounts_url(1), payload=accounts_page([account(), CARD]), repeat=True)
    provider = make_provider()
    every = await provider.fetch(Request(ACCOUNTS, "all", "US", connection=connection()))
    one = await provider.fetch(Request(ACCOUNTS, CARD_GUID, "US", connection=connection()))
    assert len(every.accounts) == 2 and [a.name for a in one.accounts] == ["Visa"]
    with pytest.raises(ProviderError) as info:
        await provider.fetch(Request(ACCOUNTS, "ACT-nope", "US", connection=connection()))
    assert info.value.category is ErrorCategory.NOT_FOUND


async def test_fetch_transactions_of_one_account(wire, make_provider) -> None:
    """A key other than ``all`` reads that account's transactions."""
    url = (
        f"{BASE}/users/{USER_GUID}/accounts/{CARD_GUID}/transactions"
        "?from_date=2023-11-03&page=1&records_per_page=100"
    )
    wire.get(url, payload=transactions_page([transaction("TRN-9", 3.0, "CREDIT", "2024-01-02")]))
    value = await make_provider().fetch(
        Request(TRANSACTIONS, CARD_GUID, "US", connection=connection())
    )
    assert [t.amount for t in value.transactions] == [-3]


async def test_missing_connection_is_auth_not_linked(wire, make_provider) -> None:
    """Reads without a connection fail with auth ("not linked") and send nothing."""
    provider = make_provider()
    for operation, params in ((GET_ACCOUNTS, GetAccounts()), (SYNC_TRANSACTIONS, None)):
        with pytest.raises(ProviderError) as info:
            await provider.execute(operation, params, _call(operation))
        assert info.value.category is ErrorCategory.AUTH and "not linked" in str(info.value)
    with pytest.raises(ProviderError) as info:
        await provider.fetch(Request(TRANSACTIONS, "all", "US"))
    assert info.value.category is ErrorCategory.AUTH
    assert not wire.requests


async def test_exchange_token_is_not_served(make_provider) -> None:
    """MX has no public tokens: exchange_token is invalid_request, marked unsupported."""
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(
            EXCHANGE_TOKEN, ExchangeToken(Secret.of("public-x")), _call(EXCHANGE_TOKEN)
        )
    assert info.value.category is ErrorCategory.INVALID_REQUEST and info.value.unsupported


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (400, "invalid_request"),
        (401, "auth"),
        (403, "auth"),
        (404, "not_found"),
        (405, "invalid_response"),
        (406, "invalid_response"),
        (409, "invalid_request"),
        (422, "invalid_request"),
        (429, "rate_limit"),
        (500, "provider_down"),
        (502, "provider_down"),
        (503, "provider_down"),
        (504, "provider_down"),
    ],
)
async def test_statuses_map_to_the_taxonomy(wire, make_provider, status, category) -> None:
    """Each documented status maps to its category, with MX's message and the status."""
    wire.get(_accounts_url(1), status=status, payload={"error": {"message": f"said {status}"}})
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(
            GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection())
        )
    assert info.value.category == ErrorCategory(category)
    assert info.value.status == status and f"said {status}" in str(info.value)
    assert info.value.retryable is (category in ("rate_limit", "provider_down"))


async def test_rate_limit_passes_retry_after(wire, make_provider) -> None:
    """A 429's Retry-After reaches the error as seconds."""
    wire.get(_accounts_url(1), status=429, headers={"Retry-After": "7"}, body=b"")
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(
            GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection())
        )
    assert info.value.category is ErrorCategory.RATE_LIMIT and info.value.retry_after == 7.0


@pytest.mark.parametrize(
    "body",
    [
        b"<html>ok</html>",
        b"[]",
        orjson.dumps({"accounts": [account()]}),
        orjson.dumps({"accounts": [account(balance="1000.23")], "pagination": {}}),
        orjson.dumps({"pagination": {"current_page": 1, "total_pages": 1}}),
    ],
)
async def test_malformed_success_is_invalid_response(wire, make_provider, body) -> None:
    """A 2xx that is not JSON, lacks fields or has wrong types is invalid_response."""
    wire.get(_accounts_url(1), status=200, body=body, content_type="application/json")
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(
            GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection())
        )
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


@pytest.mark.parametrize(
    ("exception", "category"),
    [
        (aiohttp.ClientConnectionError("connection reset"), "network"),
        (aiohttp.ServerTimeoutError("read timeout"), "timeout"),
        (TimeoutError(), "timeout"),
    ],
)
async def test_transport_failures_are_network_or_timeout(
    wire, make_provider, exception, category
) -> None:
    """Connection failures are network, timeouts timeout, with no HTTP status."""
    wire.get(_accounts_url(1), exception=exception)
    with pytest.raises(ProviderError) as info:
        await make_provider().execute(
            GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection())
        )
    assert info.value.category == ErrorCategory(category) and info.value.status is None


async def test_no_secret_in_errors_or_reprs(wire, make_provider) -> None:
    """Client id, API key, user guid and bank password never reach a message or a repr."""
    secrets = (CLIENT_ID, API_KEY, USER_GUID, PASSWORD, BASIC.split()[1])
    wire.post(f"{BASE}/users", payload=user())
    wire.get(
        f"{BASE}/institutions/mxbank/credentials?page=1&records_per_page=100", payload=CREDENTIALS
    )
    echo = f"Bad credentials {PASSWORD} for user {USER_GUID} (client {CLIENT_ID}:{API_KEY})"
    wire.post(f"{BASE}/users/{USER_GUID}/members", status=422, payload={"error": {"message": echo}})
    wire.get(
        _accounts_url(1), status=404, payload={"error": {"message": f"User {USER_GUID} not found"}}
    )
    wire.get(_tx_url(1), exception=aiohttp.ClientConnectionError(f"reset on /users/{USER_GUID}"))
    provider = make_provider()
    texts = [repr(provider), str(provider), repr(provider.client), repr(connection())]
    attempts = [
        provider.execute(CREATE_LINK, _link_params(), _call(CREATE_LINK)),
        provider.execute(GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection())),
        provider.execute(
            SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, connection())
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ProviderError) as info:
            await attempt
        error = info.value
        texts += [str(error), repr(error), str(error.__cause__), repr(error.__cause__)]
        assert "{user_guid}" in error.message
    for secret in secrets:
        for text in texts:
            assert secret not in text


async def test_missing_credentials_are_auth(wire, make_provider, monkeypatch) -> None:
    """Without a client id in config or MX_CLIENT_ID, calls fail with auth, sending nothing."""
    monkeypatch.delenv("MX_CLIENT_ID", raising=False)
    with pytest.raises(ProviderError) as info:
        await make_provider(client_id=None).execute(
            GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection())
        )
    assert info.value.category is ErrorCategory.AUTH and "MX_CLIENT_ID" in str(info.value)
    assert not wire.requests


async def test_credentials_come_from_the_environment(wire, make_provider, monkeypatch) -> None:
    """MX_CLIENT_ID and MX_API_KEY are read when config has no credentials."""
    monkeypatch.setenv("MX_CLIENT_ID", "env-id")
    monkeypatch.setenv("MX_API_KEY", "env-key")
    wire.get(_accounts_url(1), payload=accounts_page([]))
    await make_provider(client_id=None, api_key=None).execute(
        GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection())
    )
    (call,) = _calls(wire, "GET", _accounts_url(1))
    expected = "Basic " + base64.b64encode(b"env-id:env-key").decode()
    assert call.kwargs["headers"]["Authorization"] == expected


@pytest.mark.parametrize(
    ("options", "base_url", "expected"),
    [
        ({}, None, "https://api.mx.com"),
        ({"environment": "integration"}, None, "https://int-api.mx.com"),
        ({"environment": "integration"}, "http://127.0.0.1:8005/", "http://127.0.0.1:8005"),
    ],
)
def test_environment_picks_the_host(make_provider, options, base_url, expected) -> None:
    """``environment`` picks production or integration; ``base_url`` overrides both."""
    assert make_provider(base_url=base_url, **options).client.base_url == expected


def test_unknown_environment_is_a_config_error(make_provider) -> None:
    """An environment other than production or integration is rejected at start-up."""
    with pytest.raises(ConfigError, match="sandbox"):
        make_provider(environment="sandbox")


@pytest.mark.parametrize("options", [{"records_per_page": "many"}, {"history_days": -1}])
def test_bad_numeric_options_are_config_errors(make_provider, options) -> None:
    """Page size and history must be non-negative integers, named by their key path."""
    with pytest.raises(ConfigError, match=r"providers\.mx\.options\."):
        make_provider(**options)


async def test_page_size_is_clamped_to_mx_bounds(make_provider) -> None:
    """records_per_page outside MX's 10 to 1000 is clamped."""
    assert make_provider(records_per_page=5000).records_per_page == 1000
    assert make_provider(records_per_page=1).records_per_page == 10
