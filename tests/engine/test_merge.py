"""fetch_merged and the merge strategies: pure merges, parallel fan-out, failures, plugins."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from polysource import Dataset, InvalidRequest, MergedResult, hookimpl
from polysource.connections import Connection
from polysource.datasets import (
    FUNDAMENTALS,
    QUOTE,
    TRANSACTIONS,
    Fundamentals,
    Quote,
    Transaction,
    Transactions,
)
from polysource.engine.merge import Answer, MergeOptions, MergeOutcome
from polysource.engine.strategies import BUILTIN_STRATEGIES, UnionStrategy
from polysource.errors import AllProvidersFailed, PluginError, ProviderError
from polysource.registry import DuplicateNameError
from polysource.testing import FakeProvider

ROOT = Path(__file__).resolve().parents[2]


async def fetch_merged(
    orch,
    dataset,
    key,
    *,
    region=None,
    tier=None,
    tenant=None,
    strategy=None,
    min_providers=1,
    providers=None,
    field_priority=None,
    tolerance=None,
    deadline=None,
) -> MergedResult[Any]:
    """Call ``orch.fetch_merged`` with explicit defaults (keeps the tests' calls short)."""
    return await orch.fetch_merged(
        dataset,
        key,
        region=region,
        tier=tier,
        tenant=tenant,
        strategy=strategy,
        min_providers=min_providers,
        providers=providers,
        field_priority=field_priority,
        tolerance=tolerance,
        deadline=deadline,
    )


def run(name: str, dataset: Dataset[Any], *answers: Answer, **options: Any) -> MergeOutcome:
    return BUILTIN_STRATEGIES[name].merge(dataset, answers, MergeOptions(**options))


def tx(transaction_id: str, description: str = "coffee") -> Transaction:
    return Transaction(
        transaction_id, "acc-1", Decimal("3.50"), "USD", dt.date(2026, 1, 2), description
    )


@frozen
class Balance:
    account_id: str
    amount: Decimal | None = None
    count: int | None = None


BALANCE = Dataset("balance", Balance)


# -- the strategies on plain answers -----------------------------------------------------------


def test_first_returns_the_first_answer_whole():
    """``first`` keeps the first answer untouched; provenance names it for the fields it set."""
    a = Quote("AAPL", 100.0)
    b = Quote("AAPL", 200.0, currency="USD")
    outcome = run("first", QUOTE, Answer("a", a), Answer("b", b))
    assert outcome.value is a
    assert outcome.provenance == {"symbol": ("a",), "price": ("a",)}
    assert outcome.conflicts == {}


def test_field_priority_follows_each_fields_order_and_skips_unset_values():
    """Each field comes from its most trusted provider that set it; unlisted fields fail over."""
    a = Fundamentals("AAPL", name="Apple Inc", pe_ratio=30.0)
    b = Fundamentals("AAPL", name="Apple", market_cap=3e12, pe_ratio=31.0)
    outcome = run(
        "field_priority",
        FUNDAMENTALS,
        Answer("a", a),
        Answer("b", b),
        field_priority={"pe_ratio": ["b", "a"], "name": ["nobody", "b"]},
    )
    assert outcome.value == Fundamentals("AAPL", name="Apple", market_cap=3e12, pe_ratio=31.0)
    assert outcome.provenance == {
        "symbol": ("a",),
        "name": ("b",),
        "market_cap": ("b",),
        "pe_ratio": ("b",),
    }


def test_median_of_numeric_fields_keeps_the_others_from_the_first_setter():
    """Numbers become the median of the answers that set them; other fields are picked."""
    answers = [
        Answer("a", Quote("AAPL", 100.0, volume=100)),
        Answer("b", Quote("AAPL", 101.0, currency="USD", volume=200)),
        Answer("c", Quote("AAPL", 130.0, currency="EUR")),
    ]
    outcome = run("median", QUOTE, *answers)
    assert outcome.value.price == 101.0
    assert outcome.value.volume == 150 and isinstance(outcome.value.volume, int)
    assert outcome.value.currency == "USD"
    assert outcome.provenance["price"] == ("a", "b", "c")
    assert outcome.provenance["volume"] == ("a", "b")
    assert outcome.provenance["currency"] == ("b",)


def test_median_keeps_decimals_and_ignores_nan():
    """Decimal fields stay Decimal and a NaN counts as not published."""
    outcome = run(
        "median",
        BALANCE,
        Answer("a", Balance("x", Decimal("10.00"), 1)),
        Answer("b", Balance("x", Decimal("11.00"), 2)),
        Answer("c", Balance("x", Decimal("NaN"), 4)),
    )
    assert outcome.value.amount == Decimal("10.5") and isinstance(outcome.value.amount, Decimal)
    assert outcome.value.count == 2
    assert outcome.provenance["amount"] == ("a", "b")


def test_union_deduplicates_by_merge_key_in_provider_order():
    """Transactions are concatenated, the first occurrence of each id kept; other fields first."""
    a = Transactions([tx("t1"), tx("t2")], cursor="cursor-a")
    b = Transactions([tx("t2", "coffee (pending)"), tx("t3")], removed=["t9"], cursor="cursor-b")
    outcome = run("union", TRANSACTIONS, Answer("a", a), Answer("b", b))
    assert [t.transaction_id for t in outcome.value.transactions] == ["t1", "t2", "t3"]
    assert outcome.value.transactions[1].description == "coffee"
    assert isinstance(outcome.value.transactions, tuple)
    assert (outcome.value.cursor, outcome.value.removed) == ("cursor-a", ())
    assert outcome.provenance == {"transactions": ("a", "b"), "cursor": ("a",), "removed": ("a",)}


def test_union_credits_only_providers_that_added_items():
    """A provider whose every item was already seen is not in the list field's provenance."""
    a = Transactions([tx("t1"), tx("t2")])
    b = Transactions([tx("t2")])
    outcome = run("union", TRANSACTIONS, Answer("a", a), Answer("b", b))
    assert outcome.provenance["transactions"] == ("a",)


def test_union_needs_a_merge_key():
    """A dataset without merge_key is rejected with a message naming it."""
    keyless = Dataset("keyless_transactions", Transactions)
    answer = Answer("a", Transactions([tx("t1")]))
    with pytest.raises(InvalidRequest, match="'keyless_transactions' has no merge_key"):
        run("union", keyless, answer)
    with pytest.raises(InvalidRequest, match="no merge_key"):
        UnionStrategy().check(keyless)


def test_union_rejects_a_merge_key_no_item_has():
    """A merge_key that no list field's items carry is an error, not a silent concatenation."""
    wrong = Dataset("wrong_key", Transactions, merge_key="tx_id")
    with pytest.raises(InvalidRequest, match="merge_key 'tx_id'"):
        UnionStrategy().check(wrong)
    with pytest.raises(InvalidRequest, match="merge_key 'tx_id'"):
        run("union", wrong, Answer("a", Transactions([tx("t1")])))


def test_consensus_takes_the_median_of_agreeing_numbers():
    """Numbers within the tolerance agree: the field is their median and nothing conflicts."""
    outcome = run(
        "consensus",
        QUOTE,
        Answer("a", Quote("AAPL", 100.0, currency="USD")),
        Answer("b", Quote("AAPL", 100.5, currency="USD")),
        Answer("c", Quote("AAPL", 100.2)),
    )
    assert outcome.value.price == pytest.approx(100.2)
    assert outcome.conflicts == {}
    assert outcome.provenance["price"] == ("a", "b", "c")
    assert outcome.provenance["currency"] == ("a", "b")


def test_consensus_reports_disagreements_instead_of_picking():
    """Disagreeing values keep the first answer's and list every provider's in conflicts."""
    outcome = run(
        "consensus",
        QUOTE,
        Answer("a", Quote("AAPL", 100.0, currency="USD")),
        Answer("b", Quote("AAPL", 110.0, currency="EUR")),
    )
    assert (outcome.value.price, outcome.value.currency) == (100.0, "USD")
    assert outcome.conflicts == {
        "price": {"a": 100.0, "b": 110.0},
        "currency": {"a": "USD", "b": "EUR"},
    }
    assert outcome.provenance["price"] == ("a",)
    assert "symbol" not in outcome.conflicts


def test_consensus_tolerance_is_an_option():
    """A wider tolerance turns the same disagreement into agreement."""
    answers = [Answer("a", Quote("AAPL", 100.0)), Answer("b", Quote("AAPL", 110.0))]
    assert run("consensus", QUOTE, *answers, tolerance=0.05).conflicts
    assert not run("consensus", QUOTE, *answers, tolerance=0.1).conflicts


def test_merge_options_are_validated():
    """A negative tolerance and a bare string as a priority list are invalid requests."""
    with pytest.raises(InvalidRequest, match="tolerance"):
        MergeOptions(tolerance=-0.1)
    with pytest.raises(InvalidRequest, match="field_priority"):
        MergeOptions(field_priority={"price": "yahoo"})


# -- fetch_merged through the engine -----------------------------------------------------------


def fakes(clock, *names: str, datasets=("quote",), **kwargs) -> list[FakeProvider]:
    return [
        FakeProvider(name, datasets=datasets, regions={"US": rank}, clock=clock, **kwargs)
        for rank, name in enumerate(names, start=1)
    ]


async def test_providers_are_asked_in_parallel(make_orchestrator, clock):
    """Three providers taking 3, 2 and 1 seconds answer in 3 seconds, merged in failover order."""
    a, b, c = fakes(clock, "a", "b", "c")
    a.slow("AAPL", 3.0).answer("AAPL", Quote("AAPL", 100.0))
    b.slow("AAPL", 2.0).answer("AAPL", Quote("AAPL", 101.0))
    c.slow("AAPL", 1.0).answer("AAPL", Quote("AAPL", 101.5))
    orch = await make_orchestrator(a, b, c, region="US")
    result = await clock.run(fetch_merged(orch, QUOTE, "AAPL", strategy="median"))
    assert clock.monotonic() == pytest.approx(1003.0)
    assert result.sources == ("a", "b", "c")
    assert result.data.price == 101.0
    assert (result.attempts, result.errors, result.strategy) == (3, (), "median")
    assert result.duration == pytest.approx(3.0)


async def test_partial_failure_returns_the_answers_with_the_errors(make_orchestrator, clock):
    """A failing provider does not fail the merge; its error is reported beside the data."""
    a, b, c = fakes(clock, "a", "b", "c")
    b.fail_always("*", "provider_down")
    orch = await make_orchestrator(
        a, b, c, region="US", providers={"b": {"retry": {"attempts": 1}}}
    )
    result = await clock.run(fetch_merged(orch, QUOTE, "AAPL", min_providers=2))
    assert result.sources == ("a", "c")
    assert [(e.provider, e.category) for e in result.errors] == [("b", "provider_down")]


async def test_min_providers_is_enforced(make_orchestrator, clock, events):
    """Fewer answers than min_providers raise AllProvidersFailed with every error."""
    a, b, c = fakes(clock, "a", "b", "c")
    b.fail_always("*", "provider_down")
    c.fail_always("*", "auth")
    orch = await make_orchestrator(
        a, b, c, region="US", providers={"b": {"retry": {"attempts": 1}}}
    )
    with pytest.raises(AllProvidersFailed, match="1 of 3 providers answered") as caught:
        await clock.run(fetch_merged(orch, QUOTE, "AAPL", min_providers=2))
    assert [(e.provider, e.category) for e in caught.value.errors] == [
        ("b", "provider_down"),
        ("c", "auth"),
    ]
    assert [e.detail["categories"] for e in events.of("request_failed")] == [
        ["provider_down", "auth"]
    ]


@pytest.mark.parametrize("wanted", [0, 3, True])
async def test_min_providers_out_of_range_is_invalid(make_orchestrator, clock, wanted):
    """min_providers below 1 or above the candidates is rejected before any provider is asked."""
    a, b = fakes(clock, "a", "b")
    orch = await make_orchestrator(a, b, region="US")
    with pytest.raises(InvalidRequest, match="min_providers must be between 1 and 2"):
        await fetch_merged(orch, QUOTE, "AAPL", min_providers=wanted)
    assert a.call_count() + b.call_count() == 0


async def test_invalid_request_stops_the_other_providers(make_orchestrator, clock):
    """An invalid_request answer cancels the calls still running: every provider would refuse."""
    cancelled = []

    async def slow(request):
        try:
            await clock.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(request.key)
            raise
        return Quote(request.key, 1.0)

    a, b = fakes(clock, "a", "b")
    a.fail("AAPL", "invalid_request")
    b.answer("AAPL", slow)
    orch = await make_orchestrator(a, b, region="US")
    with pytest.raises(AllProvidersFailed, match="a rejected") as caught:
        await clock.run(fetch_merged(orch, QUOTE, "AAPL"))
    assert clock.monotonic() == 1000.0
    assert cancelled == ["AAPL"]
    assert [e.category for e in caught.value.errors] == ["invalid_request"]


async def test_unsupported_key_does_not_stop_the_others(make_orchestrator, clock):
    """An invalid_request marked unsupported only leaves that provider out."""

    def unsupported(request):
        raise ProviderError(
            "no such market", provider="a", category="invalid_request", unsupported=True
        )

    a, b = fakes(clock, "a", "b")
    a.answer("EURUSD", unsupported)
    orch = await make_orchestrator(a, b, region="US")
    result = await clock.run(fetch_merged(orch, QUOTE, "EURUSD"))
    assert result.sources == ("b",)
    assert [e.provider for e in result.errors] == ["a"]


async def test_each_provider_is_retried_by_the_attempt_stage(make_orchestrator, clock):
    """A transient failure is retried inside the provider's own call, as for fetch."""
    a, b = fakes(clock, "a", "b")
    a.fail("AAPL", "provider_down")
    orch = await make_orchestrator(a, b, region="US")
    result = await clock.run(fetch_merged(orch, QUOTE, "AAPL", min_providers=2))
    assert result.sources == ("a", "b") and result.errors == ()
    assert result.attempts == 3
    assert orch.stats().providers["a"].retries == 1


async def test_open_breaker_skips_the_provider(make_orchestrator, clock):
    """A provider whose breaker opened is skipped (circuit_open) while the others answer."""
    a, b = fakes(clock, "a", "b")
    a.fail("AAPL", "provider_down")
    orch = await make_orchestrator(
        a,
        b,
        region="US",
        providers={"a": {"retry": {"attempts": 1}, "breaker": {"failure_threshold": 1}}},
    )
    first = await clock.run(fetch_merged(orch, QUOTE, "AAPL"))
    second = await clock.run(fetch_merged(orch, QUOTE, "AAPL"))
    assert [e.category for e in first.errors] == ["provider_down"]
    assert [e.category for e in second.errors] == ["circuit_open"]
    assert second.sources == ("b",) and a.call_count() == 1


async def test_merged_results_bypass_the_cache(make_orchestrator, clock):
    """fetch_merged neither reads nor writes the cache: providers are asked every time."""
    a, b = fakes(clock, "a", "b")
    orch = await make_orchestrator(a, b, region="US")
    await orch.fetch(QUOTE, "AAPL")
    await clock.run(fetch_merged(orch, QUOTE, "AAPL", min_providers=2))
    assert (a.call_count(), b.call_count()) == (2, 1)
    orch.clear_cache()
    await clock.run(fetch_merged(orch, QUOTE, "AAPL"))
    await orch.fetch(QUOTE, "AAPL")
    assert a.call_count() == 4


async def test_default_strategy_is_the_datasets_unless_configured(make_orchestrator, clock):
    """strategy=None means the dataset's merge default, which config may override."""
    a, b = fakes(clock, "a", "b", datasets=("fundamentals",))
    orch = await make_orchestrator(a, b, region="US")
    assert (await fetch_merged(orch, FUNDAMENTALS, "AAPL")).strategy == "field_priority"
    a2, b2 = fakes(clock, "a", "b", datasets=("fundamentals",))
    configured = await make_orchestrator(
        a2, b2, region="US", datasets={"fundamentals": {"merge": "consensus"}}
    )
    assert (await fetch_merged(configured, FUNDAMENTALS, "AAPL")).strategy == "consensus"


async def test_field_priority_end_to_end_with_provenance(make_orchestrator, clock):
    """Per-field provider order from the caller decides each field; provenance says who."""
    a, b = fakes(clock, "a", "b", datasets=("fundamentals",))
    a.answer("AAPL", Fundamentals("AAPL", name="Apple Inc", market_cap=3.0e12))
    b.answer("AAPL", Fundamentals("AAPL", name="Apple", market_cap=3.1e12, pe_ratio=30.0))
    orch = await make_orchestrator(a, b, region="US")
    result = await clock.run(
        fetch_merged(orch, "fundamentals", "aapl", field_priority={"market_cap": ["b"]})
    )
    assert (result.data.name, result.data.market_cap, result.data.pe_ratio) == (
        "Apple Inc",
        3.1e12,
        30.0,
    )
    assert result.provenance["market_cap"] == ("b",)
    assert result.provenance["name"] == ("a",)


async def test_consensus_conflicts_reach_the_result(make_orchestrator, clock):
    """Cross-provider validation: a disagreement is in result.conflicts, not hidden."""
    a, b = fakes(clock, "a", "b")
    a.answer("AAPL", Quote("AAPL", 100.0))
    b.answer("AAPL", Quote("AAPL", 120.0))
    orch = await make_orchestrator(a, b, region="US")
    result = await clock.run(fetch_merged(orch, QUOTE, "AAPL", strategy="consensus"))
    assert result.conflicts == {"price": {"a": 100.0, "b": 120.0}}
    assert result.data.price == 100.0


async def test_unknown_strategy_lists_the_registered_ones(make_orchestrator, clock):
    """An unknown strategy name is an invalid request naming every registered strategy."""
    (a,) = fakes(clock, "a")
    orch = await make_orchestrator(a, region="US")
    with pytest.raises(InvalidRequest, match="consensus, field_priority, first, median, union"):
        await fetch_merged(orch, QUOTE, "AAPL", strategy="average")
    assert a.call_count() == 0


async def test_unknown_field_in_field_priority_is_invalid(make_orchestrator, clock):
    """A misspelt field in field_priority is rejected, naming the schema's fields."""
    (a,) = fakes(clock, "a")
    orch = await make_orchestrator(a, region="US")
    with pytest.raises(InvalidRequest, match=r"unknown field.*prise"):
        await fetch_merged(orch, QUOTE, "AAPL", field_priority={"prise": ["a"]})


async def test_providers_argument_picks_and_orders_the_providers(make_orchestrator, clock):
    """providers= asks only the named providers, in the given order; others are refused."""
    a, b, c = fakes(clock, "a", "b", "c")
    orch = await make_orchestrator(a, b, c, region="US")
    result = await clock.run(fetch_merged(orch, QUOTE, "AAPL", providers=["c", "a"]))
    assert result.sources == ("c", "a") and b.call_count() == 0
    with pytest.raises(InvalidRequest, match="zz do not serve 'quote'"):
        await fetch_merged(orch, QUOTE, "AAPL", providers=["a", "zz"])


async def test_union_of_private_transactions(make_orchestrator, clock):
    """Two banks' transactions for one tenant are united by transaction_id."""
    a, b, c = fakes(clock, "a", "b", "c", datasets=("transactions",))
    a.answer("default", lambda request: Transactions([tx("t1"), tx("t2")]))
    b.answer("default", lambda request: Transactions([tx("t2"), tx("t3")]))
    orch = await make_orchestrator(a, b, c, region="US")
    for provider in ("a", "b"):
        await orch.connections.save(Connection("user-42", provider, f"link-{provider}"))
    with pytest.raises(InvalidRequest, match="tenant"):
        await fetch_merged(orch, TRANSACTIONS, "default")
    result = await clock.run(fetch_merged(orch, TRANSACTIONS, "default", tenant="user-42"))
    assert result.strategy == "union"
    assert [t.transaction_id for t in result.data.transactions] == ["t1", "t2", "t3"]
    assert result.sources == ("a", "b")


async def test_private_data_is_read_only_where_the_tenant_is_connected(make_orchestrator, clock):
    """Each provider gets the tenant's own connection; one without it is an auth error, uncalled."""
    seen = []

    def answer(request):
        seen.append((request.connection.provider, request.connection.link_id))
        return Transactions([tx("t1")])

    a, b = fakes(clock, "a", "b", datasets=("transactions",))
    a.answer("default", answer)
    b.answer("default", answer)
    orch = await make_orchestrator(a, b, region="US")
    await orch.connections.save(Connection("user-42", "b", "link-b"))
    await orch.connections.save(Connection("someone-else", "a", "link-a"))
    result = await clock.run(fetch_merged(orch, TRANSACTIONS, "default", tenant="user-42"))
    assert result.sources == ("b",) and seen == [("b", "link-b")]
    assert [(e.provider, e.category) for e in result.errors] == [("a", "auth")]
    assert a.call_count() == 0


async def test_union_on_a_dataset_without_merge_key_fails_before_asking(make_orchestrator, clock):
    """The union strategy's check rejects a keyless dataset before any provider is called."""
    a, b = fakes(clock, "a", "b")
    orch = await make_orchestrator(a, b, region="US")
    with pytest.raises(InvalidRequest, match="'quote' has no merge_key"):
        await fetch_merged(orch, QUOTE, "AAPL", strategy="union")
    assert a.call_count() + b.call_count() == 0


# -- strategies from plugins -------------------------------------------------------------------


def _load_example(name: str):
    path = ROOT / "docs" / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def test_builtin_strategies_are_registered_by_the_default_plugin(make_orchestrator):
    """The five built-ins come from polysource's own plugin, through the hook."""
    orch = await make_orchestrator()
    assert orch.registry.merge_strategies == BUILTIN_STRATEGIES


async def test_plugin_strategy_from_the_docs_is_used(make_orchestrator, clock):
    """The how-to's ``newest`` strategy, registered by a plugin module, merges end to end."""
    newest = _load_example("polysource_newest")
    a, b = fakes(clock, "a", "b")
    a.answer("AAPL", Quote("AAPL", 100.0, timestamp=dt.datetime(2026, 1, 1, 15, 0)))
    b.answer("AAPL", Quote("AAPL", 101.0, timestamp=dt.datetime(2026, 1, 1, 15, 1)))
    orch = await make_orchestrator(newest, a, b, region="US")
    assert orch.registry.merge_strategies["newest"].__class__.__name__ == "Newest"
    result = await clock.run(fetch_merged(orch, QUOTE, "AAPL", strategy="newest"))
    assert (result.data.price, result.strategy) == (101.0, "newest")
    assert result.provenance["price"] == ("b",)


class _Registers:
    """A plugin registering one merge strategy under a given name."""

    def __init__(self, name: str, strategy: object) -> None:
        self.plugin_name = f"registers-{name}"
        self._name = name
        self._strategy = strategy

    @hookimpl
    def register_merge_strategies(self, register):
        register(self._name, self._strategy)


class _Broken:
    """A strategy that returns a value of the wrong type."""

    def merge(self, dataset, answers: Sequence[Answer], options) -> MergeOutcome:
        return MergeOutcome({"price": 1.0})


async def test_registering_something_without_merge_is_a_plugin_failure(make_orchestrator):
    """An object without a merge method is refused; the plugin is reported and skipped."""
    orch = await make_orchestrator(_Registers("bad", object()))
    assert "bad" not in orch.registry.merge_strategies
    assert [p.name for p in orch.registry.broken] == ["registers-bad"]
    assert "merge" in orch.registry.broken[0].error


async def test_a_plugin_cannot_take_a_builtin_name(make_orchestrator):
    """Registering ``median`` again is a clash naming both plugins."""
    with pytest.raises(DuplicateNameError, match=r"polysource\.builtins"):
        await make_orchestrator(_Registers("median", _Broken()))


async def test_strategy_returning_the_wrong_type_is_a_plugin_error(make_orchestrator, clock):
    """A strategy whose value is not of the dataset's schema is reported as a PluginError."""
    (a,) = fakes(clock, "a")
    orch = await make_orchestrator(_Registers("broken", _Broken()), a, region="US")
    with pytest.raises(PluginError, match="'broken' returned a dict"):
        await clock.run(fetch_merged(orch, QUOTE, "AAPL", strategy="broken"))


def test_merged_result_is_generic_and_exported():
    """MergedResult is exported from the root and holds what the merge produced."""
    result: MergedResult[Quote] = MergedResult(Quote("AAPL", 1.0), ("a",))
    provenance: Mapping[str, tuple[str, ...]] = result.provenance
    assert (result.strategy, provenance, result.conflicts, result.errors) == ("first", {}, {}, ())


async def test_outlier_quote_is_excluded_and_flagged(make_orchestrator, clock):
    """With three quotes, one off the others by more than 2% is excluded and named."""
    providers = [
        FakeProvider(name, regions={"US": rank}, clock=clock).answer("AAPL", Quote("AAPL", price))
        for rank, (name, price) in enumerate([("a", 100.0), ("b", 100.5), ("c", 150.0)], 1)
    ]
    orch = await make_orchestrator(*providers)
    merged = await orch.fetch_merged(QUOTE, "AAPL", region="US", strategy="median")
    assert merged.sources == ("a", "b")
    assert set(merged.excluded) == {"c"} and "price 150" in merged.excluded["c"]
    assert merged.data.price == pytest.approx(100.25)


async def test_two_disagreeing_quotes_are_both_kept(make_orchestrator, clock):
    """Two answers cannot outvote each other: nothing is excluded."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).answer("AAPL", Quote("AAPL", 100.0))
    b = FakeProvider("b", regions={"US": 2}, clock=clock).answer("AAPL", Quote("AAPL", 200.0))
    orch = await make_orchestrator(a, b)
    merged = await orch.fetch_merged(QUOTE, "AAPL", region="US")
    assert merged.excluded == {} and merged.sources == ("a", "b")


async def test_excluded_outliers_do_not_count_towards_min_providers(make_orchestrator, clock):
    """min_providers counts only answers that passed validation."""
    prices = [("a", 10.0), ("b", 10.0), ("c", 99.0)]
    providers = [
        FakeProvider(name, regions={"US": rank}, clock=clock).answer("X", Quote("X", price))
        for rank, (name, price) in enumerate(prices, 1)
    ]
    orch = await make_orchestrator(*providers)
    with pytest.raises(AllProvidersFailed, match="excluded as outliers"):
        await orch.fetch_merged(QUOTE, "X", region="US", min_providers=3)


async def test_disabled_provider_is_reported_as_the_walk_reports_it(make_orchestrator, clock):
    """A provider the operator disabled is not asked and is reported in the merged result's
    errors; with every one disabled the merge fails naming each."""
    a, b, c = fakes(clock, "a", "b", "c")
    orch = await make_orchestrator(a, b, c, region="US")
    orch.disable("a")
    result = await clock.run(fetch_merged(orch, QUOTE, "AAPL"))
    assert result.sources == ("b", "c") and a.call_count() == 0
    assert [(e.provider, e.category, e.message) for e in result.errors] == [
        ("a", "provider_down", "disabled by the operator")
    ]
    orch.disable("b")
    orch.disable("c")
    with pytest.raises(AllProvidersFailed) as caught:
        await clock.run(fetch_merged(orch, QUOTE, "AAPL"))
    assert [e.provider for e in caught.value.errors] == ["a", "b", "c"]


async def test_out_of_rotation_provider_is_reported_as_the_walk_reports_it(
    make_orchestrator, clock
):
    """A provider out of rotation is skipped with the walk's reason and counted as skipped."""
    a, b = fakes(clock, "a", "b")
    a.fail_always("*", "network")
    orch = await make_orchestrator(
        a,
        b,
        region="US",
        providers={
            "a": {"retry": {"attempts": 1}, "down_after": 2, "breaker": {"failure_threshold": 9}}
        },
    )
    for _ in range(2):
        await clock.run(fetch_merged(orch, QUOTE, "AAPL"))
    result = await clock.run(fetch_merged(orch, QUOTE, "AAPL"))
    assert result.sources == ("b",) and a.call_count() == 2
    (error,) = result.errors
    assert (error.provider, error.category) == ("a", "provider_down")
    assert "out of rotation after 2 consecutive failures" in error.message
    assert orch.stats().providers["a"].skipped == 1
