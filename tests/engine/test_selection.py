"""Selection policies: each ordering rule, learning from outcomes, and wiring in the engine."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from polysource.datasets import QUOTE
from polysource.engine.selection import (
    AdaptivePolicy,
    Candidate,
    CostPolicy,
    LeastLatencyPolicy,
    PriorityPolicy,
    WeightedPolicy,
)
from polysource.errors import ConfigError
from polysource.testing import FakeProvider

A, B, C = Candidate("a", cost=3.0), Candidate("b", cost=1.0), Candidate("c", cost=2.0)


def test_priority_keeps_the_failover_order():
    """priority returns the candidates as resolved."""
    assert PriorityPolicy().order("quote", "US", [A, B, C]) == ["a", "b", "c"]


def test_cost_puts_the_cheapest_in_rotation_first():
    """cost orders by price, providers out of rotation last."""
    out = Candidate("b", cost=1.0, in_rotation=False)
    assert CostPolicy().order("quote", "US", [A, B, C]) == ["b", "c", "a"]
    assert CostPolicy().order("quote", "US", [A, out, C]) == ["c", "a", "b"]


def test_least_latency_follows_the_moving_average():
    """The provider with the lowest EWMA of observed latency goes first."""
    policy = LeastLatencyPolicy(alpha=0.5)
    for _ in range(3):
        policy.observe("a", True, 0.5, 0)
        policy.observe("b", True, 0.1, 0)
    assert policy.order("quote", "US", [A, B]) == ["b", "a"]
    for _ in range(5):
        policy.observe("b", False, 2.0, 0)
    assert policy.order("quote", "US", [A, B]) == ["a", "b"]


def test_weighted_draws_in_proportion_to_weights():
    """With weights 3 and 1, the first choice is the heavy provider about 3 times in 4."""
    policy = WeightedPolicy(rng=random.Random(7))
    heavy, light = Candidate("h", weight=3.0), Candidate("l", weight=1.0)
    firsts = Counter(policy.order("quote", "US", [light, heavy])[0] for _ in range(4000))
    assert 0.70 < firsts["h"] / 4000 < 0.80


def test_adaptive_learns_to_avoid_a_failing_provider_and_returns_when_it_recovers():
    """After failures the backup leads; after the primary recovers it wins back its place."""
    policy = AdaptivePolicy(rng=random.Random(1), slow=1.0)
    primary, backup = Candidate("p", cost=1.0), Candidate("b", cost=1.0)

    def share_first(name):
        return sum(policy.order("q", "US", [primary, backup])[0] == name for _ in range(500)) / 500

    for _ in range(30):
        policy.observe("p", False, 1.5, 1.0)
        policy.observe("b", True, 0.2, 1.0)
    assert share_first("b") > 0.9
    for _ in range(200):
        policy.observe("p", True, 0.1, 1.0)
        policy.observe("b", True, 0.3, 1.0)
    assert share_first("p") > 0.5
    assert policy.expected("p") > 0.9


def test_adaptive_prefers_the_cheaper_of_two_good_providers():
    """Equal reliability: the cost penalty makes the cheaper provider lead."""
    policy = AdaptivePolicy(rng=random.Random(2), cost_weight=0.5)
    for _ in range(100):
        policy.observe("a", True, 0.1, 3.0)
        policy.observe("b", True, 0.1, 1.0)
    firsts = Counter(policy.order("q", "US", [A, B])[0] for _ in range(500))
    assert firsts["b"] > 400


async def test_cost_policy_routes_requests_to_the_cheapest(make_orchestrator, clock):
    """selection = cost sends the request to the cheapest provider despite its rank."""
    dear = FakeProvider("dear", regions={"US": 1}, clock=clock, cost_per_call=2.0)
    cheap = FakeProvider("cheap", regions={"US": 2}, clock=clock, cost_per_call=0.5)
    orch = await make_orchestrator(dear, cheap, selection="cost")
    assert (await orch.fetch(QUOTE, "AAPL", region="US")).source == "cheap"


async def test_adaptive_policy_observes_attempts_through_the_engine(make_orchestrator, clock):
    """With selection = adaptive, a failing primary loses the lead to its backup."""
    primary = FakeProvider("p", regions={"US": 1}, clock=clock).fail_always("*", "provider_down")
    backup = FakeProvider("b", regions={"US": 2}, clock=clock)
    orch = await make_orchestrator(
        primary,
        backup,
        selection="adaptive",
        selection_options={"seed": 3},
        providers={
            "p": {
                "retry": {"attempts": 1},
                "breaker": {"failure_threshold": 1000},
                "down_after": 1000,
            }
        },
    )
    for i in range(40):
        await orch.fetch(QUOTE, f"K{i}", region="US")
    early = primary.call_count()
    for i in range(40, 80):
        await orch.fetch(QUOTE, f"K{i}", region="US")
    assert primary.call_count() - early < 10


async def test_unknown_policy_is_a_config_error(clock):
    """A misspelled policy names the registered ones."""
    from polysource import Orchestrator, load_config

    config = load_config(environ={}, overrides={"selection": "cheapest"})
    orch = Orchestrator(config, plugins=[FakeProvider("a")], entry_points=False, environ={})
    with pytest.raises(ConfigError, match=r"cheapest.*adaptive.*cost.*least_latency"):
        await orch.start()


async def _simulated_hours(selection: str, hours: int = 6) -> tuple[int, float]:
    """Requests served within the deadline and cost paid, one request a minute on a fake clock.

    The cheap primary degrades (0.8 s, 60% errors) in the middle third; the backup is dearer.
    """
    from polysource import Orchestrator, PolysourceError, ProviderError, load_config
    from polysource.datasets import Quote
    from polysource.testing import FakeClock

    clock = FakeClock()
    rng = random.Random(5)
    start = clock.monotonic()

    async def primary_answer(request):
        hour = (clock.monotonic() - start) / 3600
        degraded = hours / 3 <= hour < 2 * hours / 3
        await clock.sleep(0.8 if degraded else 0.1)
        if degraded and rng.random() < 0.6:
            raise ProviderError("degraded", provider="primary", category="provider_down")
        return Quote(request.key, 1.0)

    async def backup_answer(request):
        await clock.sleep(0.3)
        return Quote(request.key, 1.0)

    primary = FakeProvider("primary", regions={"US": 1}, clock=clock, cost_per_call=1.0)
    backup = FakeProvider("backup", regions={"US": 2}, clock=clock, cost_per_call=1.3)
    primary.answer("*", primary_answer)
    backup.answer("*", backup_answer)
    config = load_config(
        environ={},
        overrides={
            "region": "US",
            "deadline": 1.5,
            "selection": selection,
            "selection_options": {"seed": 5, "slow": 0.5},
            "telemetry": {"log": False},
            "providers": {
                n: {"timeout": 1.0, "retry": {"attempts": 2}} for n in ("primary", "backup")
            },
        },
    )
    orch = Orchestrator(
        config, plugins=[primary, backup], clock=clock, entry_points=False, environ={}
    )
    await orch.start()
    served = 0
    for i in range(hours * 60):
        began = clock.monotonic()
        try:
            await clock.run(orch.fetch(QUOTE, f"K{i}", skip_cache=True))
            served += clock.monotonic() - began <= 1.5
        except PolysourceError:
            pass
        await clock.advance(max(0.0, 60 - (clock.monotonic() - began)))
    cost = sum(p.cost_spent for p in orch.stats().providers.values())
    await orch.close()
    return served, cost


async def test_adaptive_beats_priority_when_the_primary_degrades():
    """In a simulated degradation adaptive serves as many requests in time, at lower cost."""
    priority_served, priority_cost = await _simulated_hours("priority")
    adaptive_served, adaptive_cost = await _simulated_hours("adaptive")
    assert adaptive_served >= priority_served
    assert adaptive_cost < priority_cost
