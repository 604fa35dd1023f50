"""The official Belvo SDK (belvo-python) works against the emulator.

The SDK is synchronous (requests), so it runs in a worker thread while the emulator is served
by the test's event loop. ``Client(id, password, url)`` probes ``GET /api/`` on construction;
list methods follow the absolute ``next`` URLs.
"""

from __future__ import annotations

import asyncio

import pytest

from polysource.connections import Connection
from polysource.emulation import Faults, serve
from polysource.models import OperationCall
from polysource.operations import SYNC_TRANSACTIONS, SyncTransactions
from polysource_belvo.emulator import create_app

belvo_client = pytest.importorskip(
    "belvo.client", reason="the dev dependency group is not installed"
)
belvo_exceptions = pytest.importorskip("belvo.exceptions")

SECRET_ID = "sdk-secret-id"
SECRET_PASSWORD = "sdk-secret-password"
WALL = 1_709_337_600.0  # 2024-03-02


def _flow(url: str) -> dict:
    client = belvo_client.Client(SECRET_ID, SECRET_PASSWORD, url)
    link = client.Links.create("erebor_mx_retail", "bnk100", "full", external_id="user-1")
    accounts = list(client.Accounts.list(link=link["id"]))
    transactions = list(client.Transactions.list(link=link["id"], page_size=25))
    retrieved = client.Transactions.create(link["id"], "2024-02-01", date_to="2024-02-29")
    listed_links = list(client.Links.list())
    mfa = client.Links.create("gotham_mx_business", "bnk100", "full")
    resumed = client.Links.resume(mfa[0]["session"], "1234ab", link=mfa[0]["link"])
    detail = client.Links.get(link["id"])
    deleted = client.Links.delete(link["id"])
    return {
        "link": link,
        "accounts": accounts,
        "transactions": transactions,
        "retrieved": retrieved,
        "links": listed_links,
        "mfa": mfa,
        "resumed": resumed,
        "detail": detail,
        "deleted": deleted,
    }


async def test_sdk_links_lists_accounts_and_transactions() -> None:
    """Link creation, paginated lists, a POST retrieval, MFA resume and delete all work."""
    app = create_app(
        Faults(seed=8), clock=lambda: WALL, secret_id=SECRET_ID, secret_password=SECRET_PASSWORD
    )
    async with serve(app) as url:
        got = await asyncio.to_thread(_flow, url)
        link = got["link"]
    assert link["status"] == "valid" and link["external_id"] == "user-1"
    assert [a["link"] for a in got["accounts"]] == [link["id"]] * 3
    assert len(got["transactions"]) > 25  # more than one page, followed by the SDK
    assert len({t["id"] for t in got["transactions"]}) == len(got["transactions"])
    assert got["retrieved"] and all(
        "2024-02-01" <= t["value_date"] <= "2024-02-29" for t in got["retrieved"]
    )
    assert got["links"][0]["id"] == link["id"]
    assert got["mfa"][0]["code"] == "token_required" and got["resumed"]["status"] == "valid"
    assert got["detail"] == link and got["deleted"] is True


async def test_sdk_and_provider_read_the_same_transactions(make_provider) -> None:
    """The SDK's list and the provider's sync of the same link agree."""
    app = create_app(Faults(seed=8), clock=lambda: WALL)
    async with serve(app) as url:

        def sdk() -> tuple[str, list]:
            client = belvo_client.Client(SECRET_ID, SECRET_PASSWORD, url)
            link = client.Links.create("erebor_co_retail", "bnk100", "full")
            return link["id"], list(
                client.Transactions.list(
                    link=link["id"], value_date__gte="2023-12-03", value_date__lte="2024-03-02"
                )
            )

        link_id, listed = await asyncio.to_thread(sdk)
        provider = make_provider(url, page_size=17)
        synced = await provider.execute(
            SYNC_TRANSACTIONS,
            SyncTransactions(),
            OperationCall(
                SYNC_TRANSACTIONS, "CO", "user-1", Connection("user-1", "belvo", link_id)
            ),
        )
    assert {t.transaction_id for t in synced.transactions} == {t["id"] for t in listed}
    outflows = {t["id"] for t in listed if t["type"] == "OUTFLOW"}
    assert all((t.amount > 0) == (t.transaction_id in outflows) for t in synced.transactions)


async def test_sdk_login_fails_with_wrong_keys() -> None:
    """Wrong secret keys make the SDK's login probe fail, as against Belvo."""
    app = create_app(secret_id=SECRET_ID, secret_password=SECRET_PASSWORD)
    async with serve(app) as url:
        with pytest.raises(belvo_exceptions.BelvoAPIException, match="Login failed"):
            await asyncio.to_thread(belvo_client.Client, SECRET_ID, "wrong", url)
        client = await asyncio.to_thread(belvo_client.Client, SECRET_ID, SECRET_PASSWORD, url)
        with pytest.raises(belvo_exceptions.RequestError) as caught:
            await asyncio.to_thread(
                client.Links.create, "erebor_mx_retail", "user_invalid", "x", raise_exception=True
            )
    assert caught.value.status_code == 400 and caught.value.detail[0]["code"] == "login_error"
