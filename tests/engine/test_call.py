"""The provider-call component: every walk reads private data with the tenant's connections."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from polysource.connections import Connection
from polysource.datasets import TRANSACTIONS, Transaction, Transactions
from polysource.testing import FakeProvider


def _tx(transaction_id: str) -> Transaction:
    return Transaction(
        transaction_id, "acc-1", Decimal("3.50"), "USD", dt.date(2026, 1, 2), "coffee"
    )


def _banks(clock, seen, *names):
    def answer(request):
        seen.append(_link(request))
        return Transactions([_tx("t1")])

    banks = []
    for rank, name in enumerate(names, start=1):
        bank = FakeProvider(name, datasets=("transactions",), regions={"US": rank}, clock=clock)
        bank.answer("default", answer)
        banks.append(bank)
    return banks


def _link(request):
    return request.connection.link_id if request.connection is not None else None


async def test_hedged_walk_reads_private_data_with_the_tenants_connection(make_orchestrator, clock):
    """A hedged fetch of a private dataset calls each provider with the tenant's connection."""
    seen: list[str | None] = []
    a, b = _banks(clock, seen, "a", "b")
    orch = await make_orchestrator(a, b, region="US")
    await orch.connections.save(Connection("user-42", "b", "link-b"))
    result = await clock.run(orch.fetch(TRANSACTIONS, "default", tenant="user-42", hedge=1.0))
    assert result.source == "b"
    assert [(e.provider, e.category) for e in result.errors] == [("a", "auth")]
    assert a.call_count() == 0 and seen == ["link-b"]
