"""The Plaid provider's operations and reads: paging, resuming, deadlines, restarts."""

from __future__ import annotations

import orjson
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from polysource.datasets import ACCOUNTS, QUOTE, TRANSACTIONS
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import Operation, OperationCall, Request
from polysource.operations import (
    CREATE_LINK,
    GET_ACCOUNTS,
    SYNC_TRANSACTIONS,
    CreateLink,
    GetAccounts,
    SyncTransactions,
)
from polysource.testing import FakeClock
from polysource_plaid import PlaidApiError

from .conftest import (
    ACCESS_TOKEN,
    ACCOUNTS_GET,
    CLIENT_ID,
    SECRET,
    connection,
    plaid_error,
    sync_page,
    transaction,
)

SYNC = "https://production.plaid.com/transactions/sync"
ACCOUNTS_URL = "https://production.plaid.com/accounts/get"
MUTATION = plaid_error("TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")


@pytest.fixture
def wire():
    """Intercepted aiohttp calls."""
    with aioresponses() as mocked:
        yield mocked


def _sent_cursors(wire: aioresponses) -> list[str | None]:
    return [
        orjson.loads(c.kwargs["data"]).get("cursor") for c in wire.requests[("POST", URL(SYNC))]
    ]


def _sync_call(cursor: str | None = None, deadline: float | None = None) -> OperationCall:
    return OperationCall(SYNC_TRANSACTIONS, "US", "user-1", connection(cursor), deadline)


def _ids(result) -> list[str]:
    return [t.transaction_id for t in result.transactions]


async def test_sync_follows_every_page_and_folds_changes(wire, make_provider) -> None:
    """Pages are followed while has_more; modified replaces, removed drops and is reported."""
    wire.post(
        SYNC,
        payload=sync_page([transaction("a"), transaction("b")], next_cursor="c1", has_more=True),
    )
    wire.post(
        SYNC,
        payload=sync_page(
            [transaction("c")],
            modified=[transaction("a", 99.5)],
            removed=["b", "old"],
            next_cursor="c2",
            has_more=True,
        ),
    )
    wire.post(SYNC, payload=sync_page([transaction("d")], next_cursor="c3"))
    result = await make_provider(page_size=2).execute(
        SYNC_TRANSACTIONS, SyncTransactions(), _sync_call()
    )
    assert _ids(result) == ["a", "c", "d"]
    assert result.transactions[0].amount == 99.5
    assert result.removed == ("b", "old") and result.cursor == "c3"
    assert _sent_cursors(wire) == [None, "c1", "c2"]


async def test_params_cursor_wins_over_the_connection_cursor(wire, make_provider) -> None:
    """SyncTransactions.cursor is where the sync starts, before the saved one."""
    wire.post(SYNC, payload=sync_page(next_cursor="c9"))
    result = await make_provider().execute(
        SYNC_TRANSACTIONS, SyncTransactions(cursor="explicit"), _sync_call(cursor="saved")
    )
    assert _sent_cursors(wire) == ["explicit"] and result.cursor == "c9"


async def test_not_ready_keeps_the_starting_cursor(wire, make_provider) -> None:
    """Plaid answers next_cursor "" while not ready; the sync keeps where it started."""
    wire.post(
        SYNC, payload={**sync_page(next_cursor=""), "transactions_update_status": "NOT_READY"}
    )
    wire.post(
        SYNC, payload={**sync_page(next_cursor=""), "transactions_update_status": "NOT_READY"}
    )
    provider = make_provider()
    fresh = await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), _sync_call())
    resumed = await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), _sync_call("c5"))
    assert fresh.cursor is None and fresh.transactions == ()
    assert resumed.cursor == "c5"


async def test_failure_mid_sync_raises_and_a_later_sync_resumes(wire, make_provider) -> None:
    """Page 2 failing raises; the next sync repeats from the last good cursor and completes."""
    wire.post(SYNC, payload=sync_page([transaction("e")], next_cursor="c6", has_more=True))
    wire.post(SYNC, status=500, payload=plaid_error("API_ERROR", "INTERNAL_SERVER_ERROR", 500))
    wire.post(SYNC, payload=sync_page([transaction("e")], next_cursor="c6", has_more=True))
    wire.post(SYNC, payload=sync_page([transaction("f")], next_cursor="c7"))
    provider = make_provider()
    with pytest.raises(ProviderError) as caught:
        await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), _sync_call("c5"))
    assert caught.value.category is ErrorCategory.PROVIDER_DOWN
    result = await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), _sync_call("c5"))
    assert _ids(result) == ["e", "f"] and result.cursor == "c7"
    assert _sent_cursors(wire) == ["c5", "c6", "c5", "c6"]


async def test_mutation_during_pagination_restarts_from_the_first_cursor(
    wire, make_provider
) -> None:
    """TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION restarts the run; partial pages are dropped."""
    wire.post(SYNC, payload=sync_page([transaction("stale")], next_cursor="c1", has_more=True))
    wire.post(SYNC, status=400, payload=MUTATION)
    wire.post(SYNC, payload=sync_page([transaction("g")], next_cursor="c1b", has_more=True))
    wire.post(SYNC, payload=sync_page([transaction("h")], next_cursor="c2b"))
    result = await make_provider().execute(SYNC_TRANSACTIONS, SyncTransactions(), _sync_call("c0"))
    assert _ids(result) == ["g", "h"] and result.cursor == "c2b"
    assert _sent_cursors(wire) == ["c0", "c1", "c0", "c1b"]


async def test_restarts_are_bounded(wire, make_provider) -> None:
    """After options.max_restarts restarts the mutation error is raised."""
    for _ in range(2):
        wire.post(SYNC, payload=sync_page(next_cursor="c1", has_more=True))
        wire.post(SYNC, status=400, payload=MUTATION)
    with pytest.raises(PlaidApiError) as caught:
        await make_provider(max_restarts=1).execute(
            SYNC_TRANSACTIONS, SyncTransactions(), _sync_call()
        )
    assert caught.value.error_code == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
    assert caught.value.category is ErrorCategory.PROVIDER_DOWN
    assert len(_sent_cursors(wire)) == 4


async def test_repeated_cursor_stops_instead_of_looping(wire, make_provider) -> None:
    """has_more with a cursor already seen is invalid_response, not an endless loop."""
    wire.post(SYNC, payload=sync_page(next_cursor="c1", has_more=True))
    wire.post(SYNC, payload=sync_page(next_cursor="c1", has_more=True))
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(SYNC_TRANSACTIONS, SyncTransactions(), _sync_call())
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE
    assert len(_sent_cursors(wire)) == 2


async def test_page_limit_stops_an_endless_run(wire, make_provider) -> None:
    """options.max_pages bounds one sync even when every cursor is new."""
    for n in range(3):
        wire.post(SYNC, payload=sync_page(next_cursor=f"c{n}", has_more=True))
    with pytest.raises(ProviderError) as caught:
        await make_provider(max_pages=3).execute(
            SYNC_TRANSACTIONS, SyncTransactions(), _sync_call()
        )
    assert caught.value.category is ErrorCategory.INVALID_RESPONSE


async def test_deadline_is_checked_before_each_page(wire, make_provider) -> None:
    """A page that takes the clock past the deadline stops the sync with timeout."""
    clock = FakeClock()

    async def slow_page(url, **kwargs):
        await clock.advance(30)
        return CallbackResult(payload=sync_page(next_cursor="c1", has_more=True))

    wire.post(SYNC, callback=slow_page)
    wire.post(SYNC, payload=sync_page(next_cursor="c2"))
    provider = make_provider(clock=clock)
    call = _sync_call(deadline=clock.monotonic() + 10)
    with pytest.raises(ProviderError) as caught:
        await provider.execute(SYNC_TRANSACTIONS, SyncTransactions(), call)
    assert caught.value.category is ErrorCategory.TIMEOUT and caught.value.retryable
    assert len(_sent_cursors(wire)) == 1


async def test_deadline_already_passed_sends_nothing(wire, make_provider) -> None:
    """With no time left, not even the first page is asked for."""
    clock = FakeClock()
    with pytest.raises(ProviderError) as caught:
        await make_provider(clock=clock).execute(
            SYNC_TRANSACTIONS, SyncTransactions(), _sync_call(deadline=clock.monotonic())
        )
    assert caught.value.category is ErrorCategory.TIMEOUT and not wire.requests


@pytest.mark.parametrize("operation", [GET_ACCOUNTS, SYNC_TRANSACTIONS])
async def test_operations_without_a_connection_are_not_linked(make_provider, operation) -> None:
    """A read without the tenant's connection is auth, "not linked"."""
    call = OperationCall(operation, "US", "user-1", None)
    with pytest.raises(ProviderError, match="not linked") as caught:
        await make_provider().execute(operation, operation.params(), call)
    assert caught.value.category is ErrorCategory.AUTH and not caught.value.retryable


async def test_unsupported_operation_is_invalid_request_unsupported(make_provider) -> None:
    """An operation Plaid does not perform lets the engine fail over."""
    other = Operation("transfer_money", GetAccounts, GetAccounts)
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(other, GetAccounts(), OperationCall(other, "US", "u"))
    assert caught.value.category is ErrorCategory.INVALID_REQUEST and caught.value.unsupported


async def test_wrong_params_class_is_invalid_request(make_provider) -> None:
    """create_link with params of another operation is refused before any call."""
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(
            CREATE_LINK, GetAccounts(), OperationCall(CREATE_LINK, "US", "u")
        )
    assert caught.value.category is ErrorCategory.INVALID_REQUEST
    assert not caught.value.unsupported


async def test_create_link_without_tenant_is_invalid_request(make_provider) -> None:
    """Plaid's user.client_user_id is the tenant; without one nothing is sent."""
    with pytest.raises(ProviderError) as caught:
        await make_provider().execute(
            CREATE_LINK, CreateLink(), OperationCall(CREATE_LINK, "US", None)
        )
    assert caught.value.category is ErrorCategory.INVALID_REQUEST


async def test_fetch_accounts_all_and_one(wire, make_provider) -> None:
    """Key "all" reads every account; another key asks Plaid for that account only."""
    wire.post(ACCOUNTS_URL, payload=ACCOUNTS_GET)
    wire.post(ACCOUNTS_URL, payload={**ACCOUNTS_GET, "accounts": ACCOUNTS_GET["accounts"][:1]})
    provider = make_provider()
    every = await provider.fetch(Request(ACCOUNTS, "all", "US", connection=connection()))
    one_id = ACCOUNTS_GET["accounts"][0]["account_id"]
    one = await provider.fetch(Request(ACCOUNTS, one_id, "US", connection=connection()))
    assert len(every.accounts) == 2 and [a.account_id for a in one.accounts] == [one_id]
    bodies = [orjson.loads(c.kwargs["data"]) for c in wire.requests[("POST", URL(ACCOUNTS_URL))]]
    assert bodies == [
        {"access_token": ACCESS_TOKEN},
        {"access_token": ACCESS_TOKEN, "options": {"account_ids": [one_id]}},
    ]


async def test_fetch_unknown_account_is_not_found(wire, make_provider) -> None:
    """Plaid's INVALID_ACCOUNT_ID for the key is not_found."""
    wire.post(ACCOUNTS_URL, status=400, payload=plaid_error("INVALID_INPUT", "INVALID_ACCOUNT_ID"))
    with pytest.raises(ProviderError) as caught:
        await make_provider().fetch(Request(ACCOUNTS, "nope", "US", connection=connection()))
    assert caught.value.category is ErrorCategory.NOT_FOUND


async def test_fetch_transactions_is_a_full_sync(wire, make_provider) -> None:
    """fetch("transactions") syncs from the start (not the saved cursor), per account if asked."""
    wire.post(SYNC, payload=sync_page([transaction("a")], next_cursor="c1", has_more=True))
    wire.post(SYNC, payload=sync_page([transaction("b")], next_cursor="c2"))
    wire.post(SYNC, payload=sync_page([transaction("b")], next_cursor="c3"))
    provider = make_provider()
    every = await provider.fetch(Request(TRANSACTIONS, "all", "US", connection=connection("saved")))
    one = await provider.fetch(Request(TRANSACTIONS, "acc-1", "US", connection=connection()))
    assert _ids(every) == ["a", "b"] and _ids(one) == ["b"]
    bodies = [orjson.loads(c.kwargs["data"]) for c in wire.requests[("POST", URL(SYNC))]]
    assert "cursor" not in bodies[0] and bodies[1]["cursor"] == "c1"
    assert bodies[2]["options"] == {"account_id": "acc-1"}


async def test_fetch_without_connection_is_auth(make_provider) -> None:
    """A private read without a connection is auth."""
    with pytest.raises(ProviderError) as caught:
        await make_provider().fetch(Request(ACCOUNTS, "all", "US"))
    assert caught.value.category is ErrorCategory.AUTH


async def test_fetch_of_another_dataset_is_unsupported(make_provider) -> None:
    """Datasets Plaid does not serve fail over."""
    with pytest.raises(ProviderError) as caught:
        await make_provider().fetch(Request(QUOTE, "AAPL", "US", connection=connection()))
    assert caught.value.unsupported


async def test_provider_repr_and_errors_hold_no_secret(wire, make_provider) -> None:
    """The repr and an auth failure name neither the keys nor the access token."""
    wire.post(
        ACCOUNTS_URL,
        status=400,
        payload=plaid_error(
            "INVALID_INPUT", "INVALID_ACCESS_TOKEN", error_message=f"bad token {ACCESS_TOKEN}"
        ),
    )
    provider = make_provider()
    with pytest.raises(ProviderError) as caught:
        await provider.execute(
            GET_ACCOUNTS, GetAccounts(), OperationCall(GET_ACCOUNTS, "US", "u", connection())
        )
    texts = [
        repr(provider),
        str(provider),
        str(caught.value),
        repr(caught.value),
        repr(connection()),
    ]
    for secret in (CLIENT_ID, SECRET, ACCESS_TOKEN):
        for text in texts:
            assert secret not in text
