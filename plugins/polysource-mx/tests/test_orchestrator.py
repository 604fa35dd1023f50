"""End to end: the real Orchestrator, the MX plugin and its emulator."""

from __future__ import annotations

import pytest

import polysource_mx
from polysource.config import Secret, load_config
from polysource.datasets import Accounts, Transactions
from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource.errors import AllProvidersFailed
from polysource.operations import CreateLink
from polysource.orchestrator import Orchestrator
from polysource_mx.emulator import create_app

CLIENT_ID = "orch-client-id-aa01"
API_KEY = "orch-api-key-bb02"


def _orchestrator(url: str) -> Orchestrator:
    config = load_config(
        environ={},
        overrides={
            "providers": {
                "mx": {
                    "base_url": url,
                    "credentials": {
                        "client_id": Secret.of(CLIENT_ID),
                        "api_key": Secret.of(API_KEY),
                    },
                }
            },
            "telemetry": {"log": False},
        },
    )
    return Orchestrator(config, plugins=[polysource_mx], entry_points=False, environ={})


async def test_link_then_accounts_sync_and_fetch() -> None:
    """create_link saves the connection; reads and the transactions dataset go through it."""
    app = create_app(Faults(seed=4), client_id=CLIENT_ID, api_key=API_KEY)
    async with serve(app) as url, _orchestrator(url) as orch:
        params = CreateLink("mxbank", Secret.of("mxuser"), Secret.of("password"))
        linked = await orch.execute("create_link", params, tenant="user-1", region="US")
        assert linked.provider == "mx" and linked.data.status == "active"
        saved = await orch.connections.get("user-1", "mx")
        assert saved is not None and saved.link_id == linked.data.link_id

        accounts = await orch.execute("get_accounts", tenant="user-1", region="US")
        assert isinstance(accounts.data, Accounts) and len(accounts.data.accounts) == 3

        synced = await orch.execute("sync_transactions", tenant="user-1", region="US")
        assert isinstance(synced.data, Transactions) and synced.data.transactions
        assert synced.data.cursor == max(t.date for t in synced.data.transactions).isoformat()
        resaved = await orch.connections.get("user-1", "mx")
        assert resaved.cursor == synced.data.cursor

        again = await orch.execute("sync_transactions", tenant="user-1", region="US")
        assert again.data.transactions  # the cursor's day comes again
        assert all(t.date.isoformat() >= synced.data.cursor for t in again.data.transactions)

        fetched = await orch.fetch("transactions", "all", tenant="user-1", region="US")
        assert fetched.source == "mx"
        assert {t.transaction_id for t in fetched.data.transactions} == {
            t.transaction_id for t in synced.data.transactions
        }
        one = accounts.data.accounts[0].account_id
        read = await orch.fetch("accounts", one, tenant="user-1", region="US")
        assert [a.account_id for a in read.data.accounts] == [one]


async def test_reads_without_a_link_fail_as_not_linked() -> None:
    """A tenant with no MX connection is refused before any call reaches MX."""
    app = create_app(Faults())
    async with serve(app) as url, _orchestrator(url) as orch:
        with pytest.raises(AllProvidersFailed) as info:
            await orch.execute("get_accounts", tenant="user-2", region="MX")
        assert [e.category for e in info.value.errors] == ["auth"]
    assert app[EMULATOR_STATE].stats()["total"] == 0
