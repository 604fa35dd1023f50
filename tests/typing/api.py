"""The public API's types, pinned: this module is type-checked by mypy, never run.

A change that loses a type (a ``Result[Quote]`` widening to ``Result[Any]``) fails CI's mypy
run here, before a user's type checker finds it.
"""

from __future__ import annotations

from typing import Any, assert_type

from polysource import (
    BatchResult,
    CompositeResult,
    MergedResult,
    OperationResult,
    Orchestrator,
    Result,
)
from polysource.datasets import QUOTE, WEAPON_PROFILE, Quote, Transactions, WeaponProfile
from polysource.operations import CREATE_LINK, SYNC_TRANSACTIONS, CreateLink, Link, SyncTransactions


async def fetch_by_handle(orch: Orchestrator) -> None:
    """A dataset handle types the answer's data."""
    result = await orch.fetch(QUOTE, "AAPL")
    assert_type(result, Result[Quote])
    assert_type(result.data, Quote)
    assert_type(result.data.price, float)
    assert_type(await orch.fetch(QUOTE, "AAPL", region="US", max_age=60.0), Result[Quote])


async def by_name(orch: Orchestrator) -> None:
    """A dataset or operation named by a string answers ``Any`` data (not ``Never``)."""
    assert_type(await orch.fetch("quote", "AAPL"), Result[Any])
    assert_type(await orch.fetch_many("quote", ["AAPL"]), BatchResult[Any])
    assert_type(await orch.fetch_merged("quote", "AAPL"), MergedResult[Any])
    assert_type(await orch.fetch_composite("weapon_profile", "m4"), CompositeResult[Any])
    assert_type(await orch.execute("get_accounts", tenant="u-1"), OperationResult[Any])
    assert_type(await orch.execute("sync_transactions", {"cursor": "c1"}), OperationResult[Any])


async def fetch_many_by_handle(orch: Orchestrator) -> None:
    """fetch_many with a handle maps each key to a typed result."""
    batch = await orch.fetch_many(QUOTE, ["AAPL", "MSFT"])
    assert_type(batch, BatchResult[Quote])
    assert_type(batch.results["AAPL"], Result[Quote])


async def fetch_merged_by_handle(orch: Orchestrator) -> None:
    """fetch_merged with a handle types the merged value."""
    merged = await orch.fetch_merged(QUOTE, "AAPL", strategy="median")
    assert_type(merged, MergedResult[Quote])
    assert_type(merged.data, Quote)


async def fetch_composite_by_handle(orch: Orchestrator) -> None:
    """fetch_composite with a handle types the composed value."""
    assert_type(await orch.fetch_composite(WEAPON_PROFILE, "m4"), CompositeResult[WeaponProfile])


async def execute_by_handle(orch: Orchestrator) -> None:
    """An operation handle types both its parameters and its answer."""
    synced = await orch.execute(SYNC_TRANSACTIONS, SyncTransactions(cursor="c1"), tenant="u-1")
    assert_type(synced, OperationResult[Transactions])
    assert_type(synced.data, Transactions)
    from_mapping = await orch.execute(SYNC_TRANSACTIONS, {"cursor": "c1"}, tenant="u-1")
    assert_type(from_mapping, OperationResult[Transactions])
    link = await orch.execute(CREATE_LINK, CreateLink(), tenant="u-1")
    assert_type(link, OperationResult[Link])


async def wrong_parameters_are_refused(orch: Orchestrator) -> None:
    """Parameters of another operation, or a wrong dataset key type, do not type-check."""
    await orch.execute(SYNC_TRANSACTIONS, CreateLink())  # type: ignore[misc]
    await orch.fetch(QUOTE, 42)  # type: ignore[call-overload]
    await orch.fetch_many(QUOTE, "AAPL", tenant=7)  # type: ignore[call-overload]
