"""The real Orchestrator with the Plaid plugin, against the emulator: link, read, sync."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

import polysource_plaid
from polysource import Orchestrator
from polysource.config import Secret, load_config
from polysource.datasets import Accounts, Transactions
from polysource.emulation import Faults, serve
from polysource.errors import AllProvidersFailed, ErrorCategory
from polysource.operations import CreateLink
from polysource_plaid.emulator import create_app

from .conftest import CLIENT_ID, SECRET


def _orchestrator(url: str) -> Orchestrator:
    credentials = {"client_id": Secret.of(CLIENT_ID), "secret": Secret.of(SECRET)}
    config = load_config(
        environ={},
        overrides={"providers": {"plaid": {"base_url": url, "credentials": credentials}}},
    )
    return Orchestrator(config, plugins=[polysource_plaid], entry_points=False, environ={})


async def test_link_accounts_sync_and_fetch_through_the_orchestrator() -> None:
    """create_link saves the connection; reads and syncs use it; the cursor is kept."""
    async with serve(create_app(Faults(seed=9))) as url, _orchestrator(url) as orch:
        linked = await orch.execute(
            "create_link", CreateLink(institution="ins_109508"), tenant="user-1", region="US"
        )
        connection = await orch.connections.get("user-1", "plaid")
        accounts = await orch.execute("get_accounts", tenant="user-1", region="US")
        synced = await orch.execute("sync_transactions", tenant="user-1", region="US")
        saved = await orch.connections.get("user-1", "plaid")
        fetched = await orch.fetch("transactions", "all", tenant="user-1", region="US")
        async with aiohttp.ClientSession() as http:
            access = connection.access_token.reveal()
            await http.post(
                f"{url}/transactions/refresh",
                json={"client_id": "c", "secret": "s", "access_token": access},
            )
        again = await orch.execute("sync_transactions", tenant="user-1", region="US")
    assert linked.provider == "plaid" and linked.data.status == "active"
    assert connection is not None and connection.link_id == linked.data.link_id
    assert connection.institution == "ins_109508"
    assert isinstance(accounts.data, Accounts) and len(accounts.data.accounts) == 3
    assert isinstance(synced.data, Transactions) and len(synced.data.transactions) > 30
    assert saved.cursor == synced.data.cursor
    assert fetched.source == "plaid"
    assert {t.transaction_id for t in fetched.data.transactions} == {
        t.transaction_id for t in synced.data.transactions
    }
    assert all(isinstance(t.amount, Decimal) for t in fetched.data.transactions)
    assert len(again.data.transactions) == 3 and len(again.data.removed) == 1  # only changes


async def test_reads_before_linking_fail_as_not_linked() -> None:
    """Without a connection the orchestrator reports auth ("not linked") and sends nothing."""
    async with serve(create_app(Faults(seed=9))) as url, _orchestrator(url) as orch:
        with pytest.raises(AllProvidersFailed) as caught:
            await orch.execute("get_accounts", tenant="user-2", region="US")
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_emulator/stats") as resp:
            stats = await resp.json()
    (error,) = caught.value.errors
    assert error.category is ErrorCategory.AUTH and stats["total"] == 0


async def test_pending_link_is_not_saved_as_a_connection() -> None:
    """A link token (pending) is returned to the app, but no connection is stored yet."""
    async with serve(create_app(Faults(seed=9))) as url, _orchestrator(url) as orch:
        pending = await orch.execute("create_link", CreateLink(), tenant="user-3", region="CA")
        stored = await orch.connections.get("user-3", "plaid")
    assert pending.data.status == "pending" and pending.data.link_token is not None
    assert stored is None
