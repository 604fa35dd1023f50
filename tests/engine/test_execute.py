"""execute: operations with region order, prefer, sticky connections and idempotency rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from polysource.config import Secret
from polysource.connections import Connection
from polysource.datasets import Account, Accounts, Transaction, Transactions
from polysource.errors import AllProvidersFailed, InvalidRequest, UnknownOperation
from polysource.operations import CREATE_LINK, GET_ACCOUNTS, SYNC_TRANSACTIONS, CreateLink, Link
from polysource.testing import FakeProvider

OPS = ("create_link", "get_accounts", "sync_transactions")


def _bank(name, regions, clock, **kwargs):
    fake = FakeProvider(name, datasets=(), operations=OPS, regions=regions, clock=clock, **kwargs)
    fake.on_operation(
        "create_link",
        lambda params, call: Link(
            name,
            link_id=f"{name}-link-{call.tenant}",
            access_token=Secret.of(f"{name}-token-{call.tenant}"),
        ),
    )
    fake.on_operation(
        "get_accounts",
        lambda params, call: Accounts(
            [
                Account(
                    f"{call.connection.link_id}-acct",
                    "Checking",
                    "depository",
                    "USD",
                    balance_current=Decimal("10.50"),
                )
            ]
        ),
    )
    fake.on_operation(
        "sync_transactions",
        lambda params, call: Transactions(
            [Transaction("t1", "a1", Decimal("5"), "USD", dt.date(2026, 1, 2), "Coffee")],
            cursor="c-2",
        ),
    )
    return fake


@pytest.fixture
async def banks(make_orchestrator, clock):
    plaid = _bank("plaid", {"US": 1}, clock)
    mx = _bank("mx", {"US": 2, "MX": 2}, clock)
    belvo = _bank("belvo", {"MX": 1}, clock)
    orch = await make_orchestrator(
        plaid,
        mx,
        belvo,
        providers={name: {"retry": {"attempts": 1}} for name in ("plaid", "mx", "belvo")},
    )
    return orch, plaid, mx, belvo


async def test_region_order_and_connection_saved(banks):
    """US links go to plaid first, MX links to belvo; the link is saved for later reads."""
    orch, plaid, mx, belvo = banks
    us = await orch.execute(CREATE_LINK, CreateLink(institution="ins_1"), tenant="u1", region="US")
    mexico = await orch.execute("create_link", {"institution": "banamex"}, tenant="u2", region="MX")
    assert (us.provider, us.failover_used, mexico.provider) == ("plaid", False, "belvo")
    saved = await orch.connections.get("u1", "plaid")
    assert saved.link_id == "plaid-link-u1"
    assert saved.access_token.reveal() == "plaid-token-u1"
    assert "plaid-token-u1" not in repr(saved) + repr(us)


async def test_create_link_fails_over_freely_and_prefer_moves_first(banks):
    """create_link fails over to the next aggregator; prefer puts a provider first."""
    orch, plaid, mx, belvo = banks
    plaid.fail("op:create_link", "provider_down")
    result = await orch.execute(CREATE_LINK, tenant="u1", region="US")
    assert (result.provider, result.failover_used) == ("mx", True)
    assert [e.category for e in result.errors] == ["provider_down"]
    preferred = await orch.execute(CREATE_LINK, tenant="u3", region="US", prefer="mx")
    assert preferred.provider == "mx" and not preferred.failover_used


async def test_reads_go_only_where_the_tenant_is_linked(banks):
    """get_accounts skips providers without the tenant's connection as auth (not linked)."""
    orch, plaid, mx, belvo = banks
    await orch.connections.save(Connection("u1", "mx", "mx-link-u1"))
    result = await orch.execute(GET_ACCOUNTS, tenant="u1", region="US")
    assert result.provider == "mx"
    assert [(e.provider, e.category) for e in result.errors] == [("plaid", "auth")]
    assert plaid.operation_calls == []


async def test_other_tenant_cannot_read(banks):
    """A tenant with no connection of its own is denied, whatever other tenants linked."""
    orch, plaid, mx, belvo = banks
    await orch.execute(CREATE_LINK, tenant="alice", region="US")
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.execute(SYNC_TRANSACTIONS, tenant="mallory", region="US")
    assert {e.category for e in caught.value.errors} == {"auth"}
    assert plaid.operation_calls[-1][0] == "create_link"


async def test_sync_saves_cursor(banks):
    """A sync's cursor is kept with the connection for the next sync."""
    orch, *_ = banks
    await orch.execute(CREATE_LINK, tenant="u1", region="US")
    result = await orch.execute(SYNC_TRANSACTIONS, tenant="u1", region="US")
    assert result.data.cursor == "c-2"
    assert (await orch.connections.get("u1", "plaid")).cursor == "c-2"


async def test_non_idempotent_timeout_is_not_failed_over(make_orchestrator, clock):
    """create_link timing out may have reached the provider: no retry, no failover."""
    slow = _bank("plaid", {"US": 1}, clock)
    backup = _bank("mx", {"US": 2}, clock)

    async def hang(params, call):
        await clock.sleep(60)

    slow.on_operation("create_link", hang)
    orch = await make_orchestrator(slow, backup, providers={"plaid": {"timeout": 2}})
    with pytest.raises(AllProvidersFailed) as caught:
        await clock.run(orch.execute(CREATE_LINK, tenant="u1", region="US"))
    (error,) = caught.value.errors
    assert error.category == "timeout" and "not idempotent" in str(error)
    assert backup.operation_calls == []
    assert len(slow.operation_calls) == 1


async def test_idempotent_read_is_retried_after_timeout(make_orchestrator, clock):
    """An idempotent read that times out is retried."""
    bank = _bank("plaid", {"US": 1}, clock)
    bank.fail("op:get_accounts", "timeout")
    orch = await make_orchestrator(bank, providers={"plaid": {"retry": {"attempts": 2}}})
    await orch.connections.save(Connection("u1", "plaid", "link"))
    bank.on_operation("get_accounts", lambda params, call: Accounts([]))
    result = await clock.run(orch.execute(GET_ACCOUNTS, tenant="u1", region="US"))
    assert result.attempts == 2


async def test_invalid_request_stops_and_auth_skips(banks):
    """invalid_request stops failover; auth (an expired login) skips only that provider."""
    orch, plaid, mx, belvo = banks
    plaid.fail("op:create_link", "invalid_request")
    with pytest.raises(AllProvidersFailed):
        await orch.execute(CREATE_LINK, tenant="u1", region="US")
    assert mx.operation_calls == []
    plaid.fail("op:create_link", "auth")
    assert (await orch.execute(CREATE_LINK, tenant="u1", region="US")).provider == "mx"


async def test_bad_input_is_rejected_before_any_provider(banks):
    """Unknown operations, missing tenants, bad params and unknown prefer are refused."""
    orch, plaid, *_ = banks
    with pytest.raises(UnknownOperation, match="create_link"):
        await orch.execute("create_lnk", tenant="u1")
    with pytest.raises(InvalidRequest, match="tenant"):
        await orch.execute(CREATE_LINK, region="US")
    with pytest.raises(InvalidRequest, match="bad params"):
        await orch.execute(CREATE_LINK, {"products": 5}, tenant="u1", region="US")
    with pytest.raises(InvalidRequest, match="prefer"):
        await orch.execute(CREATE_LINK, tenant="u1", region="US", prefer="nobank")
    assert plaid.operation_calls == []
