"""End to end: the real Orchestrator, the Belvo plugin and its emulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

import polysource_belvo
from polysource.config import Secret, load_config
from polysource.emulation import Faults, serve
from polysource.errors import AllProvidersFailed
from polysource.operations import CreateLink, SyncTransactions
from polysource.orchestrator import Orchestrator
from polysource_belvo.emulator import create_app

SECRET_ID = "belvo-e2e-id-7c03"
SECRET_PASSWORD = "belvo-e2e-pw-19bd"


def _orchestrator(url: str, **provider: object) -> Orchestrator:
    overrides = {
        "providers": {
            "belvo": {
                "base_url": url,
                "credentials": {
                    "secret_id": Secret.of(SECRET_ID),
                    "secret_password": Secret.of(SECRET_PASSWORD),
                },
                **provider,
            }
        }
    }
    config = load_config(environ={}, overrides=overrides)
    return Orchestrator(config, plugins=[polysource_belvo], entry_points=False, environ={})


async def test_link_accounts_sync_and_fetch_through_the_orchestrator() -> None:
    """create_link saves the connection; reads and sync use it; the cursor is stored."""
    app = create_app(Faults(seed=4), secret_id=SECRET_ID, secret_password=SECRET_PASSWORD)
    async with serve(app) as url, _orchestrator(url, options={"page_size": 30}) as orch:
        params = CreateLink(
            institution="erebor_mx_retail", username=Secret.of("bnk100"), password=Secret.of("full")
        )
        linked = await orch.execute("create_link", params, tenant="user-1", region="MX")
        assert linked.provider == "belvo" and linked.data.status == "active"
        connection = await orch.connections.get("user-1", "belvo")
        assert connection is not None and connection.link_id == linked.data.link_id

        accounts = await orch.execute("get_accounts", tenant="user-1", region="MX")
        assert len(accounts.data.accounts) == 3
        assert {a.currency for a in accounts.data.accounts} == {"MXN"}

        synced = await orch.execute("sync_transactions", tenant="user-1", region="MX")
        transactions = synced.data.transactions
        assert len(transactions) > 30  # more than one page was read
        assert len({t.transaction_id for t in transactions}) == len(transactions)
        assert any(t.amount < 0 for t in transactions) and any(t.amount > 0 for t in transactions)
        stored = await orch.connections.get("user-1", "belvo")
        assert stored is not None and stored.cursor == synced.data.cursor

        fetched = await orch.fetch("transactions", "all", tenant="user-1", region="MX")
        assert fetched.source == "belvo"
        assert {t.transaction_id for t in fetched.data.transactions} == {
            t.transaction_id for t in transactions
        }
        assert sum((t.amount for t in fetched.data.transactions), Decimal(0)) == sum(
            (t.amount for t in transactions), Decimal(0)
        )

        again = await orch.execute(
            "sync_transactions", SyncTransactions(), tenant="user-1", region="MX"
        )
        assert {t.date for t in again.data.transactions} <= {max(t.date for t in transactions)}


async def test_reads_without_a_link_and_bad_logins_fail_over_to_nobody() -> None:
    """A tenant without a link is "not linked"; a failing bank login is auth."""
    async with serve(create_app(Faults(seed=4))) as url, _orchestrator(url) as orch:
        with pytest.raises(AllProvidersFailed) as caught:
            await orch.execute("get_accounts", tenant="nobody", region="MX")
        assert [e.category for e in caught.value.errors] == ["auth"]
        params = CreateLink(
            institution="erebor_co_retail",
            username=Secret.of("user_invalid"),
            password=Secret.of("whatever"),
        )
        with pytest.raises(AllProvidersFailed) as caught:
            await orch.execute("create_link", params, tenant="user-2", region="CO")
        assert [e.category for e in caught.value.errors] == ["auth"]
        assert await orch.connections.get("user-2", "belvo") is None
