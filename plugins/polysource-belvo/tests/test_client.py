"""The Belvo provider's wire calls, against documented-shape answers (aioresponses)."""

from __future__ import annotations

import base64
import datetime as dt
import re

import aiohttp
import orjson
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from polysource.config import Secret
from polysource.connections import Connection
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

from .conftest import PASSWORD, SECRET_ID, SECRET_PASSWORD, USERNAME
from .payloads import ACCOUNT, ACCOUNT_ID, LINK, LINK_ID, error, page, transaction

BASE = "https://api.belvo.com"
ACCOUNTS_URL = f"{BASE}/api/accounts/?link={LINK_ID}&page_size=1000"
LINKS = f"{BASE}/api/links/"
ANY_TRANSACTIONS = re.compile(r"^https://api\.belvo\.com/api/transactions/\?.*$")
BASIC = "Basic " + base64.b64encode(f"{SECRET_ID}:{SECRET_PASSWORD}".encode()).decode()


@pytest.fixture
def wire():
    """Intercepted aiohttp calls."""
    with aioresponses() as mocked:
        yield mocked


def _calls(wire: aioresponses, method: str, url: str) -> list:
    return wire.requests.get((method, URL(url).with_query(sorted(URL(url).query.items()))), [])


def _transactions_url(since: str, until: str, page_number: int | None = None) -> str:
    url = (
        f"{BASE}/api/transactions/?link={LINK_ID}&page_size=1000"
        f"&value_date__gte={since}&value_date__lte={until}"
    )
    return url if page_number is None else f"{url}&page={page_number}"


def _call(operation, connection=None, tenant="tenant-1", deadline=None) -> OperationCall:
    return OperationCall(operation, "MX", tenant, connection, deadline)


def _link_params(**changes) -> CreateLink:
    values = {
        "institution": "erebor_mx_retail",
        "username": Secret.of(USERNAME),
        "password": Secret.of(PASSWORD),
    }
    values.update(changes)
    return CreateLink(**values)


# -- create_link -------------------------------------------------------------------------------


async def test_create_link_posts_credentials_with_basic_auth(wire, make_provider) -> None:
    """``POST /api/links/`` carries Basic auth and the JSON body; 201 maps to an active Link."""
    wire.post(LINKS, status=201, payload=LINK)
    link = await make_provider().execute(CREATE_LINK, _link_params(), _call(CREATE_LINK))
    assert link.link_id == LINK_ID and link.status == "active" and link.provider == "belvo"
    (call,) = _calls(wire, "POST", LINKS)
    assert call.kwargs["headers"]["Authorization"] == BASIC
    assert call.kwargs["headers"]["Content-Type"] == "application/json"
    assert orjson.loads(call.kwargs["data"]) == {
        "institution": "erebor_mx_retail",
        "username": USERNAME,
        "password": PASSWORD,
        "access_mode": "recurrent",
        "external_id": "tenant-1",
    }


async def test_create_link_options_and_short_tenants(wire, make_provider) -> None:
    """``access_mode`` comes from options; a tenant shorter than 3 characters is not sent."""
    wire.post(LINKS, status=201, payload=dict(LINK, access_mode="single"), repeat=True)
    provider = make_provider(access_mode="single")
    await provider.execute(CREATE_LINK, _link_params(), _call(CREATE_LINK, tenant="u1"))
    quiet = make_provider(external_id=False)
    await quiet.execute(CREATE_LINK, _link_params(password=None), _call(CREATE_LINK))
    first, second = (orjson.loads(c.kwargs["data"]) for c in _calls(wire, "POST", LINKS))
    assert first["access_mode"] == "single" and "external_id" not in first
    assert "external_id" not in second and "password" not in second


async def test_create_link_with_mfa_pending_link(wire, make_provider) -> None:
    """A link answered with ``token_required`` status is pending."""
    wire.post(LINKS, status=201, payload=dict(LINK, status="token_required"))
    link = await make_provider().execute(CREATE_LINK, _link_params(), _call(CREATE_LINK))
    assert link.status == "pending"


@pytest.mark.parametrize(
    "params",
    [
        _link_params(institution=None),
        _link_params(username=None),
        _link_params(username=Secret(env="NO_SUCH_VAR_BELVO")),
    ],
)
async def test_create_link_needs_institution_and_username(wire, make_provider, params) -> None:
    """Without an institution or a username nothing is sent: invalid_request."""
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(CREATE_LINK, params, _call(CREATE_LINK))
    assert caught.value.category is ErrorCategory.INVALID_REQUEST
    assert not wire.requests


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (401, error("authentication_failed", "Invalid Secret Keys"), "auth"),
        (403, error("permission_denied"), "auth"),
        (400, error("login_error", "Invalid credentials provided to login"), "auth"),
        (400, error("invalid_credentials"), "auth"),
        (400, error("session_expired"), "auth"),
        (
            428,
            error("token_required", "A MFA token is required", session="2c58", link=LINK_ID),
            "auth",
        ),
        (400, error("invalid_link"), "auth"),
        (400, error("unconfirmed_link"), "auth"),
        (404, error("not_found", "Not found."), "not_found"),
        (408, error("request_timeout"), "timeout"),
        (400, error("institution_down"), "provider_down"),
        (400, error("institution_unavailable"), "provider_down"),
        (400, error("institution_inactive"), "provider_down"),
        (500, error("unexpected_error"), "provider_down"),
        (503, "<html>Service Unavailable</html>", "provider_down"),
        (429, error("too_many_requests"), "rate_limit"),
        (400, error("too_many_sessions"), "rate_limit"),
        (400, error("required", "This field is required.", field="institution"), "invalid_request"),
        (
            400,
            error("invalid", '"x" is not a valid choice.', field="institution"),
            "invalid_request",
        ),
        (405, error("method_not_allowed"), "invalid_response"),
        (409, error("conflict"), "invalid_request"),
    ],
)
async def test_error_answers_map_to_the_taxonomy(
    wire, make_provider, status, body, category
) -> None:
    """Every documented error code and status maps to its category, code in the message."""
    if isinstance(body, str):
        wire.post(LINKS, status=status, body=body)
    else:
        wire.post(LINKS, status=status, payload=body)
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(CREATE_LINK, _link_params(), _call(CREATE_LINK))
    error_ = caught.value
    assert error_.category == ErrorCategory(category) and error_.status == status
    assert error_.provider == "belvo"
    if not isinstance(body, str):
        assert body[0]["code"] in error_.message


async def test_unsupported_operation_error_is_unsupported(wire, make_provider) -> None:
    """``unsupported_operation`` is an invalid_request another provider may serve."""
    wire.post(LINKS, status=400, payload=error("unsupported_operation"))
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(CREATE_LINK, _link_params(), _call(CREATE_LINK))
    assert caught.value.category is ErrorCategory.INVALID_REQUEST and caught.value.unsupported


async def test_rate_limit_passes_retry_after(wire, make_provider, connection) -> None:
    """A 429's ``Retry-After`` reaches the error."""
    wire.get(
        ACCOUNTS_URL, status=429, payload=error("too_many_requests"), headers={"Retry-After": "7"}
    )
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection))
    assert caught.value.category is ErrorCategory.RATE_LIMIT and caught.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("exception", "category"),
    [
        (aiohttp.ClientConnectionError("refused"), "network"),
        (aiohttp.ServerDisconnectedError(), "network"),
        (TimeoutError(), "timeout"),
    ],
)
async def test_transport_failures(wire, make_provider, connection, exception, category) -> None:
    """Connection failures are network; our timeouts are timeout."""
    wire.get(ACCOUNTS_URL, exception=exception)
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection))
    assert caught.value.category == ErrorCategory(category)


@pytest.mark.parametrize(
    "answer",
    [
        {"body": "not json", "status": 200},
        {"payload": {"count": 1, "next": None}, "status": 200},
        {"payload": [ACCOUNT], "status": 200},
        {"payload": page([dict(ACCOUNT, id=None)]), "status": 200},
        {"payload": page([]), "status": 302, "headers": {"Location": "https://elsewhere.example/"}},
    ],
)
async def test_malformed_success_is_invalid_response(
    wire, make_provider, connection, answer
) -> None:
    """Non-JSON, an envelope without results, a missing id, a redirect: invalid_response."""
    wire.get(ACCOUNTS_URL, **answer)
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection))
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE


async def test_link_body_not_json_is_invalid_response(wire, make_provider) -> None:
    """A 201 whose body is not JSON is invalid_response."""
    wire.post(LINKS, status=201, body="<html></html>")
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(CREATE_LINK, _link_params(), _call(CREATE_LINK))
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE


async def test_no_secret_in_errors_or_reprs(wire, make_provider, connection) -> None:
    """Secret keys and the user's bank credentials never reach a message or a repr."""
    echo = f"login failed for {USERNAME} with {PASSWORD} using {SECRET_ID}:{SECRET_PASSWORD}"
    wire.post(LINKS, status=400, payload=error("login_error", echo))
    keys = f"bad keys {SECRET_ID}:{SECRET_PASSWORD}"
    wire.get(ACCOUNTS_URL, status=401, payload=error("authentication_failed", keys))
    provider = make_provider()
    texts = [repr(provider), str(provider), repr(provider.client)]
    for operation, params, call in (
        (CREATE_LINK, _link_params(), _call(CREATE_LINK)),
        (GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection)),
    ):
        with pytest.raises(ProviderError) as caught:
            await provider.execute(operation, params, call)
        texts += [str(caught.value), repr(caught.value), repr(caught.value.__cause__)]
    texts.append(repr(_link_params()))
    for secret in (SECRET_ID, SECRET_PASSWORD, USERNAME, PASSWORD):
        assert all(secret not in text for text in texts), secret


async def test_missing_secret_keys_are_auth(wire, make_provider, connection, monkeypatch) -> None:
    """Without keys in config or environment, a call fails with auth and sends nothing."""
    monkeypatch.delenv("BELVO_SECRET_ID", raising=False)
    monkeypatch.delenv("BELVO_SECRET_PASSWORD", raising=False)
    provider = make_provider(secret_id=None, secret_password=None)
    with pytest.raises(ProviderError) as caught:
        await provider.execute(GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection))
    assert caught.value.category is ErrorCategory.AUTH and "BELVO_SECRET_ID" in str(caught.value)
    assert not wire.requests


async def test_secret_keys_from_the_environment(
    wire, make_provider, connection, monkeypatch
) -> None:
    """``BELVO_SECRET_ID`` and ``BELVO_SECRET_PASSWORD`` are read when config has none."""
    monkeypatch.setenv("BELVO_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("BELVO_SECRET_PASSWORD", SECRET_PASSWORD)
    wire.get(ACCOUNTS_URL, payload=page([ACCOUNT]))
    provider = make_provider(secret_id=None, secret_password=None)
    await provider.execute(GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection))
    (call,) = _calls(wire, "GET", ACCOUNTS_URL)
    assert call.kwargs["headers"]["Authorization"] == BASIC


# -- configuration -----------------------------------------------------------------------------


def test_environment_picks_the_base_url(make_provider) -> None:
    """``options.environment`` picks production or sandbox; ``base_url`` overrides both."""
    assert make_provider().client.base_url == "https://api.belvo.com"
    assert make_provider(environment="sandbox").client.base_url == "https://sandbox.belvo.com"
    assert make_provider("http://127.0.0.1:8004/", environment="sandbox").client.base_url == (
        "http://127.0.0.1:8004"
    )


@pytest.mark.parametrize(
    "options",
    [
        {"environment": "staging"},
        {"access_mode": "forever"},
        {"page_size": 0},
        {"page_size": 5000},
        {"history_days": "x"},
    ],
)
def test_bad_options_are_config_errors(make_provider, options) -> None:
    """Unknown environments or access modes and out-of-range numbers fail at start-up."""
    with pytest.raises(ConfigError):
        make_provider(**options)


# -- not linked, unsupported -------------------------------------------------------------------


@pytest.mark.parametrize("operation", [GET_ACCOUNTS, SYNC_TRANSACTIONS])
async def test_reads_without_a_connection_are_not_linked(wire, make_provider, operation) -> None:
    """Reads without a connection (or without a link id) are auth, "not linked"."""
    params = operation.params()
    for connection in (None, Connection("tenant-1", "belvo")):
        with pytest.raises(ProviderError) as caught:
            await make_provider().execute(operation, params, _call(operation, connection))
        assert caught.value.category is ErrorCategory.AUTH and "not linked" in str(caught.value)
    assert not wire.requests


async def test_exchange_token_is_unsupported(make_provider, connection) -> None:
    """Belvo has no public-token exchange: unsupported invalid_request."""
    assert "exchange_token" not in make_provider().info.operations
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(
            EXCHANGE_TOKEN, ExchangeToken(Secret.of("public-x")), _call(EXCHANGE_TOKEN, connection)
        )
    assert caught.value.category is ErrorCategory.INVALID_REQUEST and caught.value.unsupported


# -- get_accounts ------------------------------------------------------------------------------


async def test_get_accounts_follows_every_page(wire, make_provider, connection) -> None:
    """Each absolute ``next`` URL is followed until it is null."""
    second = dict(ACCOUNT, id="acc-2", category="CREDIT_CARD")
    third = dict(ACCOUNT, id="acc-3", category="SAVINGS_ACCOUNT")
    wire.get(ACCOUNTS_URL, payload=page([ACCOUNT], f"{ACCOUNTS_URL}&page=2"))
    wire.get(f"{ACCOUNTS_URL}&page=2", payload=page([second], f"{ACCOUNTS_URL}&page=3"))
    wire.get(f"{ACCOUNTS_URL}&page=3", payload=page([third]))
    accounts = await make_provider().execute(
        GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection)
    )
    assert [a.account_id for a in accounts.accounts] == [ACCOUNT_ID, "acc-2", "acc-3"]
    assert [a.type for a in accounts.accounts] == ["depository", "credit", "depository"]
    assert len(wire.requests) == 3


async def test_get_accounts_filters_ids_and_other_links(wire, make_provider, connection) -> None:
    """``account_ids`` narrows the answer; an item of another link is never returned."""
    foreign = dict(ACCOUNT, id="acc-foreign", link="another-link")
    wire.get(ACCOUNTS_URL, payload=page([ACCOUNT, dict(ACCOUNT, id="acc-2"), foreign]), repeat=True)
    provider = make_provider()
    every = await provider.execute(GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection))
    some = await provider.execute(
        GET_ACCOUNTS, GetAccounts(["acc-2"]), _call(GET_ACCOUNTS, connection)
    )
    assert [a.account_id for a in every.accounts] == [ACCOUNT_ID, "acc-2"]
    assert [a.account_id for a in some.accounts] == ["acc-2"]


async def test_next_on_another_host_is_re_rooted(wire, make_provider, connection) -> None:
    """A ``next`` URL on another origin keeps its path and query on our base URL."""
    wire.get(
        ACCOUNTS_URL, payload=page([ACCOUNT], "https://proxy.example/api/accounts/?link=x&page=2")
    )
    wire.get(f"{BASE}/api/accounts/?link=x&page=2", payload=page([dict(ACCOUNT, id="acc-2")]))
    accounts = await make_provider().execute(
        GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection)
    )
    assert len(accounts.accounts) == 2
    assert all(url.host == "api.belvo.com" for _, url in wire.requests)


async def test_get_accounts_retrieves_when_nothing_is_stored(
    wire, make_provider, connection
) -> None:
    """An empty list (single link, or data still loading) triggers ``POST /api/accounts/``."""
    wire.get(ACCOUNTS_URL, payload=page([]))
    wire.post(f"{BASE}/api/accounts/", status=201, payload=[ACCOUNT])
    accounts = await make_provider().execute(
        GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection)
    )
    assert [a.account_id for a in accounts.accounts] == [ACCOUNT_ID]
    (call,) = _calls(wire, "POST", f"{BASE}/api/accounts/")
    assert orjson.loads(call.kwargs["data"]) == {"link": LINK_ID, "save_data": True}


async def test_retrieval_needing_mfa_is_auth(wire, make_provider, connection) -> None:
    """A 428 ``token_required`` on retrieval is auth."""
    wire.get(ACCOUNTS_URL, payload=page([]))
    wire.post(f"{BASE}/api/accounts/", status=428, payload=error("token_required", session="abc"))
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection))
    assert caught.value.category is ErrorCategory.AUTH and caught.value.status == 428


async def test_repeated_next_page_stops(wire, make_provider, connection) -> None:
    """A ``next`` that was already followed ends the read instead of looping."""
    loop = f"{ACCOUNTS_URL}&page=2"
    wire.get(ACCOUNTS_URL, payload=page([ACCOUNT], loop))
    wire.get(loop, payload=page([ACCOUNT], loop))
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection))
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE
    assert len(wire.requests) == 2


async def test_page_cap_stops_endless_lists(wire, make_provider, connection) -> None:
    """More pages than ``max_pages`` is invalid_response."""
    wire.get(ACCOUNTS_URL, payload=page([ACCOUNT], f"{ACCOUNTS_URL}&page=2"))
    wire.get(f"{ACCOUNTS_URL}&page=2", payload=page([ACCOUNT], f"{ACCOUNTS_URL}&page=3"))
    with pytest.raises(ProviderError) as caught:
        await make_provider(max_pages=2).execute(
            GET_ACCOUNTS, GetAccounts(), _call(GET_ACCOUNTS, connection)
        )
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE


# -- sync_transactions -------------------------------------------------------------------------


async def test_sync_reads_the_last_90_days_and_every_page(wire, make_provider, connection) -> None:
    """The default window ends today (the clock's wall date); all pages are read; the cursor is
    the date synced through."""
    first = _transactions_url("2023-12-03", "2024-03-02")
    wire.get(
        first,
        payload=page(
            [transaction(1), transaction(2, kind="INFLOW")],
            _transactions_url("2023-12-03", "2024-03-02", 2),
        ),
    )
    wire.get(_transactions_url("2023-12-03", "2024-03-02", 2), payload=page([transaction(3)]))
    result = await make_provider().execute(
        SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, connection)
    )
    assert [t.amount > 0 for t in result.transactions] == [True, False, True]
    assert result.cursor == "2024-03-02" and result.removed == ()
    assert len(wire.requests) == 2


async def test_sync_window_from_params_cursor_and_connection(
    wire, make_provider, connection
) -> None:
    """``since``/``until`` win; else ``params.cursor``; else the connection's cursor."""
    wire.get(ANY_TRANSACTIONS, payload=page([]), repeat=True)
    provider = make_provider(history_days=30)
    await provider.execute(
        SYNC_TRANSACTIONS,
        SyncTransactions(
            since=dt.date(2024, 1, 1), until=dt.date(2024, 1, 31), cursor="2023-01-01"
        ),
        _call(SYNC_TRANSACTIONS, connection),
    )
    await provider.execute(
        SYNC_TRANSACTIONS,
        SyncTransactions(cursor="2024-02-20"),
        _call(SYNC_TRANSACTIONS, connection),
    )
    stored = Connection("tenant-1", "belvo", LINK_ID, cursor="2024-02-25")
    await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, stored))
    junk = Connection("tenant-1", "belvo", LINK_ID, cursor="not-a-date")
    await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, junk))
    await provider.execute(
        SYNC_TRANSACTIONS,
        SyncTransactions(since="2024-02-10", until="2024-02-12"),  # strings, not dates
        _call(SYNC_TRANSACTIONS, connection),
    )
    windows = [(u.query["value_date__gte"], u.query["value_date__lte"]) for _, u in wire.requests]
    assert windows == [
        ("2024-01-01", "2024-01-31"),
        ("2024-02-20", "2024-03-02"),
        ("2024-02-25", "2024-03-02"),
        ("2024-02-01", "2024-03-02"),
        ("2024-02-10", "2024-02-12"),
    ]


@pytest.mark.parametrize(
    "params",
    [
        SyncTransactions(cursor="yesterday"),
        SyncTransactions(since="soon"),
        SyncTransactions(since="2024-03-01", until="2024-02-01"),
    ],
)
async def test_sync_rejects_bad_windows(wire, make_provider, connection, params) -> None:
    """A cursor that is not a date, or a window ending before it starts, is invalid_request."""
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(
            SYNC_TRANSACTIONS, params, _call(SYNC_TRANSACTIONS, connection)
        )
    assert caught.value.category is ErrorCategory.INVALID_REQUEST
    assert not wire.requests


async def test_sync_resumes_from_the_last_good_cursor(wire, make_provider, connection) -> None:
    """A failure on page 2 raises; a later sync from the last good cursor reads it all."""
    provider = make_provider()
    wire.get(_transactions_url("2023-12-03", "2024-03-02"), payload=page([transaction(1)]))
    good = await provider.execute(
        SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, connection)
    )
    assert good.cursor == "2024-03-02"

    resumed = Connection("tenant-1", "belvo", LINK_ID, cursor=good.cursor)
    window = _transactions_url("2024-03-02", "2024-03-02")
    wire.get(
        window, payload=page([transaction(2)], _transactions_url("2024-03-02", "2024-03-02", 2))
    )
    wire.get(
        _transactions_url("2024-03-02", "2024-03-02", 2),
        status=500,
        payload=error("unexpected_error"),
    )
    with pytest.raises(ProviderError) as caught:
        await provider.execute(
            SYNC_TRANSACTIONS, SyncTransactions(), _call(SYNC_TRANSACTIONS, resumed)
        )
    assert caught.value.category is ErrorCategory.PROVIDER_DOWN

    wire.get(
        window, payload=page([transaction(2)], _transactions_url("2024-03-02", "2024-03-02", 2))
    )
    wire.get(
        _transactions_url("2024-03-02", "2024-03-02", 2),
        payload=page([transaction(3), transaction(2)]),
    )
    done = await provider.execute(
        SYNC_TRANSACTIONS,
        SyncTransactions(cursor=good.cursor),
        _call(SYNC_TRANSACTIONS, connection),
    )
    assert sorted(t.transaction_id[-1] for t in done.transactions) == ["2", "3"]
    assert done.cursor == "2024-03-02"


async def test_sync_stops_at_the_deadline(wire, make_provider, connection, clock) -> None:
    """When the deadline passes while a page is read, the next page is not asked: timeout."""

    async def slow_page(url, **kwargs):
        await clock.advance(10.0)
        return CallbackResult(
            payload=page([transaction(1)], _transactions_url("2023-12-03", "2024-03-02", 2))
        )

    wire.get(_transactions_url("2023-12-03", "2024-03-02"), callback=slow_page)
    wire.get(_transactions_url("2023-12-03", "2024-03-02", 2), payload=page([transaction(2)]))
    deadline = clock.monotonic() + 5.0
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(
            SYNC_TRANSACTIONS,
            SyncTransactions(),
            _call(SYNC_TRANSACTIONS, connection, deadline=deadline),
        )
    assert caught.value.category is ErrorCategory.TIMEOUT
    assert len(wire.requests) == 1


async def test_sync_after_the_deadline_sends_nothing(
    wire, make_provider, connection, clock
) -> None:
    """A deadline already passed fails before the first page."""
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(
            SYNC_TRANSACTIONS,
            SyncTransactions(),
            _call(SYNC_TRANSACTIONS, connection, deadline=clock.monotonic() - 1),
        )
    assert caught.value.category is ErrorCategory.TIMEOUT and not wire.requests


# -- datasets ----------------------------------------------------------------------------------


def _request(dataset, key, connection, deadline=None) -> Request:
    return Request(dataset, key, "MX", tenant="tenant-1", connection=connection, deadline=deadline)


async def test_fetch_accounts_all_and_one(wire, make_provider, connection) -> None:
    """``accounts`` ``all`` is every account; an account id is that one; another not_found."""
    wire.get(ACCOUNTS_URL, payload=page([ACCOUNT, dict(ACCOUNT, id="acc-2")]), repeat=True)
    provider = make_provider()
    assert len((await provider.fetch(_request(ACCOUNTS, "all", connection))).accounts) == 2
    one = await provider.fetch(_request(ACCOUNTS, "acc-2", connection))
    assert [a.account_id for a in one.accounts] == ["acc-2"]
    with pytest.raises(ProviderError) as caught:
        await provider.fetch(_request(ACCOUNTS, "acc-404", connection))
    assert caught.value.category is ErrorCategory.NOT_FOUND


async def test_fetch_transactions_of_an_account(wire, make_provider, connection) -> None:
    """``transactions`` of one account adds the ``account`` filter to the default window."""
    wire.get(
        f"{_transactions_url('2023-12-03', '2024-03-02')}&account={ACCOUNT_ID}",
        payload=page([transaction(1)]),
    )
    wire.get(
        _transactions_url("2023-12-03", "2024-03-02"),
        payload=page([transaction(1), transaction(2)]),
    )
    provider = make_provider()
    assert (
        len((await provider.fetch(_request(TRANSACTIONS, ACCOUNT_ID, connection))).transactions)
        == 1
    )
    assert len((await provider.fetch(_request(TRANSACTIONS, "all", connection))).transactions) == 2


async def test_fetch_without_connection_is_auth(wire, make_provider) -> None:
    """A private dataset without the tenant's connection is auth."""
    with pytest.raises(ProviderError) as caught:
        await make_provider().fetch(_request(TRANSACTIONS, "all", None))
    assert caught.value.category is ErrorCategory.AUTH and not wire.requests
