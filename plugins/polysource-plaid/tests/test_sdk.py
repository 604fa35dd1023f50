"""The official Plaid SDK (plaid-python) works against the emulator.

The SDK is synchronous (urllib3), so it runs in a worker thread while the emulator is served by
the test's event loop. ``plaid.Configuration(host=...)`` points it at the emulator.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from polysource.config import Secret
from polysource.connections import Connection
from polysource.emulation import Faults, serve
from polysource.models import OperationCall
from polysource.operations import SYNC_TRANSACTIONS, SyncTransactions
from polysource_plaid.emulator import create_app

plaid = pytest.importorskip("plaid", reason="the official Plaid SDK is not installed")
from plaid.api import plaid_api  # noqa: E402
from plaid.model.accounts_get_request import AccountsGetRequest  # noqa: E402
from plaid.model.country_code import CountryCode  # noqa: E402
from plaid.model.item_public_token_exchange_request import (  # noqa: E402
    ItemPublicTokenExchangeRequest,
)
from plaid.model.link_token_create_request import LinkTokenCreateRequest  # noqa: E402
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser  # noqa: E402
from plaid.model.products import Products  # noqa: E402
from plaid.model.sandbox_public_token_create_request import (  # noqa: E402
    SandboxPublicTokenCreateRequest,
)
from plaid.model.transactions_sync_request import TransactionsSyncRequest  # noqa: E402

NOW = 1732723200.0  # 2024-11-27 16:00 UTC


def _api(url: str, secret: str = "sdk-secret"):
    configuration = plaid.Configuration(
        host=url, api_key={"clientId": "sdk-client", "secret": secret}
    )
    return plaid.ApiClient(configuration)


def _sdk_flow(url: str) -> dict:
    """Sandbox public token, exchange, accounts and a paged sync, as an SDK user writes them."""
    with _api(url) as client:
        api = plaid_api.PlaidApi(client)
        link = api.link_token_create(
            LinkTokenCreateRequest(
                client_name="polysource",
                language="en",
                country_codes=[CountryCode("US")],
                user=LinkTokenCreateRequestUser(client_user_id="user-1"),
                products=[Products("transactions")],
            )
        )
        public = api.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(
                institution_id="ins_109508", initial_products=[Products("transactions")]
            )
        )
        exchanged = api.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public.public_token)
        )
        accounts = api.accounts_get(AccountsGetRequest(access_token=exchanged.access_token))
        added, cursor, pages = [], "", 0
        while True:
            page = api.transactions_sync(
                TransactionsSyncRequest(
                    access_token=exchanged.access_token, cursor=cursor, count=20
                )
            )
            added += page.added
            cursor, pages = page.next_cursor, pages + 1
            if not page.has_more:
                break
        return {
            "link_token": link.link_token,
            "access_token": exchanged.access_token,
            "item_id": exchanged.item_id,
            "accounts": accounts,
            "added": added,
            "cursor": cursor,
            "pages": pages,
            "status": str(page.transactions_update_status),
        }


async def test_sdk_links_reads_accounts_and_syncs(make_provider) -> None:
    """Every response parses into the SDK's strict models; our provider sees the same data."""
    async with serve(create_app(Faults(seed=2), clock=lambda: NOW)) as url:
        sdk = await asyncio.to_thread(_sdk_flow, url)
        connection = Connection(
            "user-1", "plaid", sdk["item_id"], Secret.of(sdk["access_token"]), "ins_109508"
        )
        ours = await make_provider(base_url=url).execute(
            SYNC_TRANSACTIONS,
            SyncTransactions(),
            OperationCall(SYNC_TRANSACTIONS, "US", "user-1", connection),
        )
    assert sdk["link_token"].startswith("link-sandbox-")
    assert sdk["accounts"].item.institution_id == "ins_109508"
    assert [str(a.type) for a in sdk["accounts"].accounts] == ["depository", "depository", "credit"]
    assert sdk["pages"] > 1 and sdk["status"] == "HISTORICAL_UPDATE_COMPLETE"
    assert sorted(t.transaction_id for t in sdk["added"]) == sorted(
        t.transaction_id for t in ours.transactions
    )
    by_id = {t.transaction_id: t for t in ours.transactions}
    for theirs in sdk["added"]:
        mine = by_id[theirs.transaction_id]
        assert float(mine.amount) == theirs.amount and mine.date == theirs.date


def _sdk_error(url: str, secret: str, access_token: str) -> tuple[int, dict]:
    with _api(url, secret) as client:
        try:
            plaid_api.PlaidApi(client).accounts_get(AccountsGetRequest(access_token=access_token))
        except plaid.ApiException as exc:
            return exc.status, orjson.loads(exc.body)
    raise AssertionError("the SDK call did not fail")


async def test_sdk_sees_plaid_error_objects() -> None:
    """An unknown access token and wrong keys surface as ApiException with Plaid's error body."""
    app = create_app(Faults(), credentials={"sdk-client": "sdk-secret"})
    async with serve(app) as url:
        token_status, token_error = await asyncio.to_thread(
            _sdk_error, url, "sdk-secret", "access-sandbox-unknown"
        )
        keys_status, keys_error = await asyncio.to_thread(
            _sdk_error, url, "wrong-secret", "access-sandbox-unknown"
        )
    assert token_status == 400 and token_error["error_code"] == "INVALID_ACCESS_TOKEN"
    assert keys_status == 400 and keys_error["error_code"] == "INVALID_API_KEYS"
    assert token_error["error_type"] == keys_error["error_type"] == "INVALID_INPUT"
