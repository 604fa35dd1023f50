"""The Plaid provider's wire calls, against documented-shape answers (aioresponses)."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from aioresponses import aioresponses
from yarl import URL

from polysource.config import Secret
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import OperationCall
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

from .conftest import (
    ACCESS_TOKEN,
    ACCOUNTS_GET,
    CLIENT_ID,
    ITEM_ID,
    LINK_TOKEN,
    PUBLIC_TOKEN,
    SECRET,
    connection,
    plaid_error,
    sync_page,
    transaction,
)
from .test_mapping import ERROR_TABLE

PRODUCTION = "https://production.plaid.com"
SANDBOX = "https://sandbox.plaid.com"
SECRETS = (CLIENT_ID, SECRET, ACCESS_TOKEN, PUBLIC_TOKEN, LINK_TOKEN)


@pytest.fixture
def wire():
    """Intercepted aiohttp calls."""
    with aioresponses() as mocked:
        yield mocked


def _calls(wire: aioresponses, url: str) -> list:
    return wire.requests.get(("POST", URL(url)), [])


def _body(call) -> dict:
    return orjson.loads(call.kwargs["data"])


def _linked(operation, tenant: str = "user-1", **kwargs) -> OperationCall:
    return OperationCall(operation, "US", tenant, kwargs.pop("connection", connection()), **kwargs)


async def test_calls_send_credentials_as_headers_with_the_api_version(wire, make_provider) -> None:
    """Client id and secret go out as PLAID-CLIENT-ID/PLAID-SECRET, never in the body."""
    wire.post(f"{PRODUCTION}/accounts/get", payload=ACCOUNTS_GET)
    await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _linked(GET_ACCOUNTS))
    (call,) = _calls(wire, f"{PRODUCTION}/accounts/get")
    headers = call.kwargs["headers"]
    assert headers["PLAID-CLIENT-ID"] == CLIENT_ID and headers["PLAID-SECRET"] == SECRET
    assert headers["Plaid-Version"] == "2020-09-14"
    assert headers["Content-Type"] == "application/json"
    assert _body(call) == {"access_token": ACCESS_TOKEN}


async def test_create_link_asks_for_a_link_token_in_production(wire, make_provider) -> None:
    """Without the sandbox shortcut, create_link is /link/token/create -> a pending link."""
    wire.post(
        f"{PRODUCTION}/link/token/create",
        payload={"link_token": LINK_TOKEN, "expiration": "2024-03-01T20:00:00Z", "request_id": "H"},
    )
    provider = make_provider(client_name="Budgeteer", webhook="https://app.example/hook")
    params = CreateLink(
        institution="ins_109508", products=("transactions", "accounts", "auth"), language="fr"
    )
    link = await provider.execute(CREATE_LINK, params, OperationCall(CREATE_LINK, "CA", "tenant-7"))
    assert link.status == "pending" and link.link_token.reveal() == LINK_TOKEN
    assert link.access_token is None and link.link_id is None
    (call,) = _calls(wire, f"{PRODUCTION}/link/token/create")
    assert _body(call) == {
        "client_name": "Budgeteer",
        "language": "fr",
        "country_codes": ["CA"],
        "user": {"client_user_id": "tenant-7"},
        "products": ["transactions", "auth"],
        "webhook": "https://app.example/hook",
    }


async def test_create_link_outside_plaid_regions_uses_configured_countries(
    wire, make_provider
) -> None:
    """A region Plaid does not know as a country falls back to options.country_codes."""
    wire.post(
        f"{PRODUCTION}/link/token/create",
        payload={"link_token": LINK_TOKEN, "expiration": "x", "request_id": "H"},
    )
    provider = make_provider(country_codes=["US", "CA"])
    await provider.execute(CREATE_LINK, CreateLink(), OperationCall(CREATE_LINK, "global", "t"))
    (call,) = _calls(wire, f"{PRODUCTION}/link/token/create")
    assert _body(call)["country_codes"] == ["US", "CA"]
    assert _body(call)["products"] == ["transactions"]


async def test_sandbox_create_link_with_institution_skips_link(wire, make_provider) -> None:
    """In sandbox, create_link(institution) creates a public token and exchanges it."""
    wire.post(
        f"{SANDBOX}/sandbox/public_token/create",
        payload={"public_token": PUBLIC_TOKEN, "request_id": "R1"},
    )
    wire.post(
        f"{SANDBOX}/item/public_token/exchange",
        payload={"access_token": ACCESS_TOKEN, "item_id": ITEM_ID, "request_id": "R2"},
    )
    params = CreateLink(
        institution="ins_109511", username=Secret.of("user_good"), password=Secret.of("pass_good")
    )
    link = await make_provider(environment="sandbox").execute(
        CREATE_LINK, params, OperationCall(CREATE_LINK, "US", "user-1")
    )
    assert link.status == "active" and link.link_id == ITEM_ID
    assert link.access_token.reveal() == ACCESS_TOKEN and link.institution == "ins_109511"
    (create,) = _calls(wire, f"{SANDBOX}/sandbox/public_token/create")
    assert _body(create) == {
        "institution_id": "ins_109511",
        "initial_products": ["transactions"],
        "options": {"override_username": "user_good", "override_password": "pass_good"},
    }
    (exchange,) = _calls(wire, f"{SANDBOX}/item/public_token/exchange")
    assert _body(exchange) == {"public_token": PUBLIC_TOKEN}


async def test_base_url_overrides_the_environment(wire, make_provider) -> None:
    """settings.base_url wins over options.environment, and enables the sandbox shortcut."""
    base = "http://127.0.0.1:9"
    wire.post(f"{base}/sandbox/public_token/create", payload={"public_token": PUBLIC_TOKEN})
    wire.post(
        f"{base}/item/public_token/exchange",
        payload={"access_token": ACCESS_TOKEN, "item_id": ITEM_ID, "request_id": "R"},
    )
    provider = make_provider(base_url=base + "/", environment="production")
    link = await provider.execute(
        CREATE_LINK, CreateLink(institution="ins_109508"), OperationCall(CREATE_LINK, "US", "u")
    )
    assert link.status == "active"


def test_unknown_environment_is_a_config_error(make_provider) -> None:
    """options.environment must be production or sandbox."""
    with pytest.raises(ConfigError, match=r"options\.environment"):
        make_provider(environment="development")


@pytest.mark.parametrize("page_size", [0, 501, "100", True])
def test_page_size_outside_plaid_bounds_is_a_config_error(make_provider, page_size) -> None:
    """options.page_size is Plaid's count: an integer from 1 to 500."""
    with pytest.raises(ConfigError, match="page_size"):
        make_provider(page_size=page_size)


async def test_exchange_token_returns_an_active_link(wire, make_provider) -> None:
    """exchange_token sends the public token and masks the access token it gets."""
    wire.post(
        f"{PRODUCTION}/item/public_token/exchange",
        payload={"access_token": ACCESS_TOKEN, "item_id": ITEM_ID, "request_id": "Aim3b"},
    )
    link = await make_provider().execute(
        EXCHANGE_TOKEN,
        ExchangeToken(Secret.of(PUBLIC_TOKEN)),
        OperationCall(EXCHANGE_TOKEN, "US", "user-1"),
    )
    assert link.status == "active" and link.link_id == ITEM_ID
    assert link.access_token.reveal() == ACCESS_TOKEN
    (call,) = _calls(wire, f"{PRODUCTION}/item/public_token/exchange")
    assert _body(call) == {"public_token": PUBLIC_TOKEN}


async def test_get_accounts_filters_by_account_ids(wire, make_provider) -> None:
    """GetAccounts.account_ids becomes options.account_ids."""
    wire.post(f"{PRODUCTION}/accounts/get", payload=ACCOUNTS_GET)
    accounts = await make_provider().execute(
        GET_ACCOUNTS, GetAccounts(account_ids=["a1", "a2"]), _linked(GET_ACCOUNTS)
    )
    assert len(accounts.accounts) == 2
    (call,) = _calls(wire, f"{PRODUCTION}/accounts/get")
    assert _body(call)["options"] == {"account_ids": ["a1", "a2"]}


async def test_sync_sends_cursor_and_count(wire, make_provider) -> None:
    """The sync resumes from the connection's cursor with count = options.page_size."""
    wire.post(f"{PRODUCTION}/transactions/sync", payload=sync_page([transaction("t1")]))
    result = await make_provider(page_size=50).execute(
        SYNC_TRANSACTIONS,
        SyncTransactions(),
        _linked(SYNC_TRANSACTIONS, connection=connection(cursor="saved-cursor")),
    )
    (call,) = _calls(wire, f"{PRODUCTION}/transactions/sync")
    assert _body(call) == {"access_token": ACCESS_TOKEN, "count": 50, "cursor": "saved-cursor"}
    assert [t.transaction_id for t in result.transactions] == ["t1"]
    assert result.cursor == "cursor-end"


@pytest.mark.parametrize(("error_type", "error_code", "status", "category"), ERROR_TABLE)
async def test_every_documented_error_maps_over_http(
    wire, make_provider, error_type, error_code, status, category
) -> None:
    """An error object answered over HTTP raises the table's category, without secrets."""
    body = plaid_error(error_type, error_code, status, error_message=f"echo {ACCESS_TOKEN}")
    wire.post(f"{PRODUCTION}/accounts/get", status=status, payload=body)
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _linked(GET_ACCOUNTS))
    error = caught.value
    assert error.category is ErrorCategory(category) and error.provider == "plaid"
    assert error.status == status
    assert isinstance(error, PlaidApiError) and error.error_code == error_code
    for secret in SECRETS:
        assert secret not in str(error) and secret not in repr(error)


async def test_rate_limit_passes_retry_after_up(wire, make_provider) -> None:
    """A 429's Retry-After header becomes retry_after."""
    wire.post(
        f"{PRODUCTION}/transactions/sync",
        status=429,
        headers={"Retry-After": "7"},
        payload=plaid_error("RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT", 429),
    )
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(
            SYNC_TRANSACTIONS, SyncTransactions(), _linked(SYNC_TRANSACTIONS)
        )
    assert caught.value.category is ErrorCategory.RATE_LIMIT
    assert caught.value.retry_after == 7.0 and caught.value.retryable


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (404, b"404 page not found", "not_found"),
        (502, b"<html>Bad Gateway</html>", "provider_down"),
        (401, b"", "auth"),
        (400, b"not json", "invalid_request"),
    ],
)
async def test_failures_without_an_error_object_map_by_status(
    wire, make_provider, status, body, category
) -> None:
    """A failing answer that is not Plaid's error object is categorised by its status."""
    wire.post(f"{PRODUCTION}/accounts/get", status=status, body=body)
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _linked(GET_ACCOUNTS))
    assert caught.value.category is ErrorCategory(category)


@pytest.mark.parametrize(
    "answer",
    [
        {"body": b'{"accounts": [', "content_type": "application/json"},
        {"payload": ["not", "an", "object"]},
        {"payload": {"item": {}, "request_id": "x"}},
    ],
)
async def test_malformed_success_is_invalid_response(wire, make_provider, answer) -> None:
    """A 2xx that is not JSON, not an object, or lacks accounts is invalid_response."""
    wire.post(f"{PRODUCTION}/accounts/get", **answer)
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _linked(GET_ACCOUNTS))
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE


@pytest.mark.parametrize(
    ("exception", "category"),
    [
        (aiohttp.ClientConnectionError("refused"), "network"),
        (aiohttp.ServerDisconnectedError(), "network"),
        (TimeoutError(), "timeout"),
    ],
)
async def test_transport_failures_map_to_network_and_timeout(
    wire, make_provider, exception, category
) -> None:
    """A refused connection is network; our own timeout is timeout."""
    wire.post(f"{PRODUCTION}/accounts/get", exception=exception)
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(GET_ACCOUNTS, GetAccounts(), _linked(GET_ACCOUNTS))
    assert caught.value.category is ErrorCategory(category) and caught.value.retryable


async def test_missing_credentials_are_auth_without_a_request(
    wire, make_provider, monkeypatch
) -> None:
    """No client id in config or PLAID_CLIENT_ID: auth, and nothing is sent."""
    monkeypatch.delenv("PLAID_CLIENT_ID", raising=False)
    provider = make_provider(credentials={"secret": SECRET})
    with pytest.raises(ProviderError) as caught:
        await provider.execute(GET_ACCOUNTS, GetAccounts(), _linked(GET_ACCOUNTS))
    assert caught.value.category is ErrorCategory.AUTH
    assert "PLAID_CLIENT_ID" in str(caught.value) and not wire.requests


async def test_credentials_are_read_from_the_environment(wire, make_provider, monkeypatch) -> None:
    """Without config credentials, PLAID_CLIENT_ID and PLAID_SECRET are used."""
    monkeypatch.setenv("PLAID_CLIENT_ID", "env-client")
    monkeypatch.setenv("PLAID_SECRET", "env-secret")
    wire.post(f"{PRODUCTION}/accounts/get", payload=ACCOUNTS_GET)
    provider = make_provider(credentials={})
    await provider.execute(GET_ACCOUNTS, GetAccounts(), _linked(GET_ACCOUNTS))
    (call,) = _calls(wire, f"{PRODUCTION}/accounts/get")
    assert call.kwargs["headers"]["PLAID-CLIENT-ID"] == "env-client"
    assert call.kwargs["headers"]["PLAID-SECRET"] == "env-secret"


async def test_public_token_and_passwords_never_reach_errors(wire, make_provider) -> None:
    """Tokens and the sandbox password are masked even when Plaid echoes them."""
    echoed = f"{PUBLIC_TOKEN} {CLIENT_ID} {SECRET}"
    wire.post(
        f"{SANDBOX}/sandbox/public_token/create",
        status=400,
        payload=plaid_error(
            "ITEM_ERROR", "INVALID_CREDENTIALS", error_message=f"{echoed} pw-hunter2"
        ),
    )
    wire.post(
        f"{SANDBOX}/item/public_token/exchange",
        status=400,
        payload=plaid_error("INVALID_INPUT", "INVALID_PUBLIC_TOKEN", error_message=echoed),
    )
    provider = make_provider(environment="sandbox")
    errors = []
    for operation, params in (
        (CREATE_LINK, CreateLink(institution="ins_1", password=Secret.of("pw-hunter2"))),
        (EXCHANGE_TOKEN, ExchangeToken(Secret.of(PUBLIC_TOKEN))),
    ):
        with pytest.raises(ProviderError) as caught:
            await provider.execute(operation, params, OperationCall(operation, "US", "u"))
        errors.append(caught.value)
    assert [e.category for e in errors] == [ErrorCategory.AUTH, ErrorCategory.INVALID_REQUEST]
    texts = [repr(provider), repr(provider.client)]
    texts += [text for e in errors for text in (str(e), repr(e), str(e.__cause__))]
    for secret in (*SECRETS, "pw-hunter2"):
        for text in texts:
            assert secret not in text
