"""Budget windows aligned in a time zone or on a cron expression, and the typed exhaustion error."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from polysource.config import load_config
from polysource.datasets import QUOTE
from polysource.errors import AllProvidersFailed, BudgetExhausted, ConfigError
from polysource.resilience.budget import CostBudget, next_reset
from polysource.testing import FakeClock, FakeProvider

NY = ZoneInfo("America/New_York")


def _at(*args: int) -> float:
    return datetime(*args, tzinfo=NY).timestamp()  # type: ignore[misc]


def test_day_windows_start_at_local_midnight_across_a_dst_change():
    """A New York day ends at local midnight: 23 hours long on 8 March 2026, 24 on others."""
    assert next_reset("day", _at(2026, 3, 7, 12), "America/New_York") == _at(2026, 3, 8)
    assert next_reset("day", _at(2026, 3, 8, 0), "America/New_York") == _at(2026, 3, 9)
    assert _at(2026, 3, 9) - _at(2026, 3, 8) == 23 * 3600


def test_month_windows_are_calendar_months_in_the_time_zone():
    """A monthly window in a time zone resets on the 1st at local midnight, December included."""
    assert next_reset("month", _at(2026, 1, 31, 23, 59), "America/New_York") == _at(2026, 2, 1)
    assert next_reset("month", _at(2026, 12, 15), "America/New_York") == _at(2027, 1, 1)


def test_cron_windows_follow_the_expression_in_the_time_zone():
    """A cron window resets at each match, at local wall time (09:00 New York every Monday)."""
    resets = next_reset("day", _at(2026, 3, 4, 10), "America/New_York", cron="0 9 * * 1")
    assert resets == _at(2026, 3, 9, 9)


def test_local_budget_resets_at_new_york_midnight_not_utc():
    """Spending made at 23:00 New York is still counted at 00:30 UTC, and reset at 00:00 local."""
    clock = FakeClock(wall=_at(2026, 3, 7, 18))  # 23:00 UTC
    budget = CostBudget(1.0, "day", clock, "a", tz="America/New_York")
    assert budget.try_spend(1.0)
    clock._now += 1.5 * 3600  # 00:30 UTC, 19:30 New York
    assert not budget.try_spend(0.1)
    assert budget.resets_at == _at(2026, 3, 8)
    clock._now += 4.5 * 3600  # 00:00 New York
    assert budget.try_spend(1.0)
    assert budget.resets_at == _at(2026, 3, 9)


def test_budget_per_and_tz_are_read_from_config():
    """``budget = { limit, per, tz }`` is structured with ``per`` as the period."""
    config = load_config(
        overrides={
            "providers": {"a": {"budget": {"limit": 100.0, "per": "month", "tz": "Europe/Paris"}}}
        }
    )
    budget = config.providers["a"].budget
    assert budget is not None and (budget.period, budget.tz) == ("month", "Europe/Paris")


@pytest.mark.parametrize(
    ("budget", "path", "fragment"),
    [
        ({"limit": 1.0, "tz": "Mars/Olympus"}, "providers.a.budget.tz", "unknown time zone"),
        ({"limit": 1.0, "cron": "every day"}, "providers.a.budget.cron", "invalid cron"),
        ({"limit": 1.0, "per": "fortnight"}, "providers.a.budget.period", "allowed"),
    ],
)
def test_bad_budget_windows_are_config_errors_naming_the_key(budget, path, fragment):
    """An unknown zone, a bad cron expression or period is a ConfigError at its key path."""
    with pytest.raises(ConfigError) as caught:
        load_config(overrides={"providers": {"a": {"budget": budget}}})
    assert caught.value.path == path and fragment in str(caught.value)


@pytest.fixture
def clock() -> FakeClock:
    """The fake clock at 00:30 New York on 1 November 2026, a 25-hour day (DST ends)."""
    return FakeClock(wall=_at(2026, 11, 1, 0, 30))


async def test_exhausted_budget_is_a_typed_error_with_usage_limit_cost(make_orchestrator, clock):
    """With no provider left the caller gets BudgetExhausted (usage, limit, cost, resets_at)."""
    a = FakeProvider("a", clock=clock)
    orch = await make_orchestrator(
        a,
        providers={
            "a": {
                "cost_per_call": 0.4,
                "budget": {"limit": 1.0, "per": "day", "tz": "America/New_York"},
            }
        },
    )
    await orch.fetch(QUOTE, "K1")
    await orch.fetch(QUOTE, "K2")
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch(QUOTE, "K3")
    error = caught.value.errors[0]
    assert isinstance(error, BudgetExhausted) and error.category == "budget_exhausted"
    assert (error.usage, error.limit, error.cost) == (pytest.approx(0.8), 1.0, 0.4)
    assert error.resets_at == _at(2026, 11, 2)
    stats = orch.stats().providers["a"]
    assert stats.budget_resets_at == _at(2026, 11, 2)
    await clock.advance(_at(2026, 11, 2) - clock.time())
    assert (await orch.fetch(QUOTE, "K4")).source == "a"
