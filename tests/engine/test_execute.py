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


def _hanging_reads(clock):
    """plaid hangs on get_accounts, mx answers it; both with a 0.2 s per-try timeout."""
    plaid = _bank("plaid", {"US": 1}, clock)
    mx = _bank("mx", {"US": 2}, clock)

    async def hang(params, call):
        await clock.sleep(60)

    plaid.on_operation("get_accounts", hang)
    return plaid, mx, {"plaid": {"timeout": 0.2}, "mx": {"timeout": 0.2}}


async def test_idempotent_retry_that_would_starve_the_backup_fails_over_at_once(
    make_orchestrator, clock
):
    """A hanging provider of an idempotent read is not retried when the retry would leave the
    next linked provider no full try: that provider answers within the deadline."""
    plaid, mx, timeouts = _hanging_reads(clock)
    orch = await make_orchestrator(plaid, mx, providers=timeouts)
    for name in ("plaid", "mx"):
        await orch.connections.save(Connection("u1", name, f"{name}-link"))
    start = clock.monotonic()
    result = await clock.run(orch.execute(GET_ACCOUNTS, tenant="u1", region="US", deadline=0.45))
    assert (result.provider, len(plaid.operation_calls)) == ("mx", 1)
    assert [e.category for e in result.errors] == ["timeout"]
    assert clock.monotonic() - start == pytest.approx(0.2)


async def test_retry_runs_when_no_other_provider_is_linked(make_orchestrator, clock):
    """A provider the tenant is not linked at leaves no time to keep: the only linked one is
    retried as the last provider of the walk."""
    plaid, mx, timeouts = _hanging_reads(clock)
    orch = await make_orchestrator(plaid, mx, providers=timeouts)
    await orch.connections.save(Connection("u1", "plaid", "plaid-link"))
    with pytest.raises(AllProvidersFailed):
        await clock.run(orch.execute(GET_ACCOUNTS, tenant="u1", region="US", deadline=0.45))
    assert len(plaid.operation_calls) == 2


async def test_disabled_and_out_of_rotation_providers_are_reported(make_orchestrator, clock):
    """execute reports a provider disabled by the operator or out of rotation in the result's
    errors, and fails with AllProvidersFailed naming each when every one is disabled."""
    plaid = _bank("plaid", {"US": 1}, clock)
    mx = _bank("mx", {"US": 2}, clock)
    orch = await make_orchestrator(
        plaid,
        mx,
        providers={
            "plaid": {
                "retry": {"attempts": 1},
                "down_after": 2,
                "breaker": {"failure_threshold": 9},
            }
        },
    )
    orch.disable("plaid")
    result = await orch.execute(CREATE_LINK, tenant="u1", region="US")
    assert result.provider == "mx" and plaid.operation_calls == []
    assert [(e.provider, e.category, e.message) for e in result.errors] == [
        ("plaid", "provider_down", "disabled by the operator")
    ]
    orch.disable("mx")
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.execute(CREATE_LINK, tenant="u1", region="US")
    assert [(e.provider, e.category) for e in caught.value.errors] == [
        ("plaid", "provider_down"),
        ("mx", "provider_down"),
    ]
    orch.enable("plaid")
    orch.enable("mx")
    plaid.fail("op:create_link", "provider_down", times=2)
    for _ in range(2):
        await orch.execute(CREATE_LINK, tenant="u1", region="US")
    result = await orch.execute(CREATE_LINK, tenant="u1", region="US")
    assert result.provider == "mx" and len(plaid.operation_calls) == 2
    (error,) = result.errors
    assert (error.provider, error.category) == ("plaid", "provider_down")
    assert "out of rotation after 2 consecutive failures" in error.message


async def test_always_failing_provider_is_rarely_called_under_adaptive(make_orchestrator, clock):
    """With selection = adaptive, execute follows the policy as fetch does: an always-failing
    provider first in the failover order is asked in few of 40 create_link calls."""
    plaid = _bank("plaid", {"US": 1}, clock)
    plaid.fail("op:create_link", "provider_down", times=1000)
    mx = _bank("mx", {"US": 2}, clock)
    orch = await make_orchestrator(
        plaid,
        mx,
        selection="adaptive",
        selection_options={"seed": 3},
        providers={
            "plaid": {
                "retry": {"attempts": 1},
                "breaker": {"failure_threshold": 1000},
                "down_after": 1000,
            }
        },
    )
    for i in range(40):
        assert (await orch.execute(CREATE_LINK, tenant=f"u{i}", region="US")).provider == "mx"
    assert len(plaid.operation_calls) < 10


async def test_failover_order_and_operator_controls_answer_for_operations(banks):
    """failover_order lists an operation's providers, and disable and set_rank change it."""
    orch, plaid, mx, belvo = banks
    assert orch.failover_order(CREATE_LINK, "US") == ("plaid", "mx")
    assert orch.failover_order("create_link", "MX") == ("belvo", "mx")
    orch.set_rank("mx", "US", 0)
    assert orch.failover_order("create_link", "US") == ("mx", "plaid")
    orch.disable("mx")
    assert orch.failover_order("create_link", "US") == ("plaid",)
    result = await orch.execute("create_link", {"institution": "i"}, tenant="u1", region="US")
    assert result.provider == "plaid" and mx.call_count() == 0
