"""The standard datasets' validators: what a provider's answer must satisfy to be accepted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from polysource.datasets import (
    ACCOUNTS,
    DAILY_BARS,
    QUOTE,
    STANDARD_DATASETS,
    TRANSACTIONS,
    Account,
    Accounts,
    Bar,
    DailyBars,
    Quote,
    Transaction,
    Transactions,
)
from polysource.errors import ProviderError
from polysource.testing import FakeProvider

DAY = dt.date(2026, 1, 2)
ACCOUNT = Account("a1", "Checking", "depository", "USD", balance_current=Decimal("-5.10"))


@pytest.mark.parametrize(
    ("dataset", "value"),
    [
        (QUOTE, Quote("AAPL", 190.5, volume=0, high=191.0, low=190.0, change_percent=-2.5)),
        (DAILY_BARS, DailyBars("AAPL", [Bar(DAY, 1.0, 2.0, 0.5, 1.5, 10)])),
        (ACCOUNTS, Accounts([ACCOUNT])),
        (TRANSACTIONS, Transactions([Transaction("t", "a1", Decimal("-1"), "MXN", DAY, "x")])),
    ],
)
def test_sound_answers_pass(dataset, value):
    """Answers with sound values pass (a negative change or balance is sound)."""
    assert dataset.check(value) is None


@pytest.mark.parametrize(
    ("dataset", "value", "found"),
    [
        (QUOTE, Quote("AAPL", -190.5), "price is negative"),
        (QUOTE, Quote("AAPL", 1.0, volume=-1), "volume is negative"),
        (QUOTE, Quote("AAPL", float("nan")), "price"),
        (QUOTE, Quote("AAPL", "190.5"), "price"),  # type: ignore[arg-type]
        (QUOTE, Quote("AAPL", 1.0, high=1.0, low=2.0), "high is below low"),
        (DAILY_BARS, DailyBars("A", [Bar(DAY, 1.0, 0.5, 2.0, 1.0)]), "bars[0]: high is below"),
        (DAILY_BARS, DailyBars("A", [Bar("2026-01-02", 1.0, 2.0, 0.5, 1.0)]), "date"),  # type: ignore[arg-type]
        (DAILY_BARS, DailyBars("A", [Bar(DAY, -1.0, 2.0, 0.5, 1.0)]), "open is negative"),
        (ACCOUNTS, Accounts([Account("a", "n", "t", "USD", balance_current="9")]), "balance"),  # type: ignore[arg-type]
    ],
)
def test_wrong_values_fail_with_the_field_named(dataset, value, found):
    """A negative price or volume, a bar whose high is below its low, a string where a date,
    number or balance belongs: the check names the field."""
    problem = dataset.check(value)
    assert problem is not None and found in problem


def test_every_standard_dataset_but_the_composite_declares_validators():
    """Each standard dataset providers answer directly has at least the type check."""
    assert all(ds.validators for ds in STANDARD_DATASETS if not ds.is_composite)


async def test_an_answer_failing_a_validator_is_an_invalid_response(make_orchestrator, clock):
    """fetch fails over from a provider whose answer fails a check, and caches the other's."""
    bad = FakeProvider("bad", clock=clock, default=lambda r: Quote(r.key, -1.0))
    good = FakeProvider("good", clock=clock)
    orch = await make_orchestrator(bad, good, routing={"quote": {"global": ["bad", "good"]}})
    result = await orch.fetch(QUOTE, "AAPL")
    assert result.source == "good" and result.data.price > 0
    (error,) = result.errors
    assert isinstance(error, ProviderError) and error.category == "invalid_response"
    assert "price is negative" in str(error)
    assert (await orch.fetch(QUOTE, "AAPL")).source == "good"
