"""A simulated day: the primary degrades; adaptive selection vs fixed priority.

Fake time, no sleeps: one request a minute for 24 hours against two providers. The primary is
cheap (1.0 a call) and fast (0.1 s), except from 08:00 to 16:00 when its latency rises to
0.8 s and 60% of its calls fail; the backup costs 1.3 a call and answers in 0.3 s all day.
Every request has a 1.5 s deadline, a 1 s per-try timeout and one retry; breakers and health
rotation are on with their default thresholds. Reported: requests answered within the deadline,
and cost paid (every call costs, failed or not).
"""

from __future__ import annotations

import random
from typing import Any

from _harness import figure

from polysource import Orchestrator, PolysourceError, ProviderError, load_config
from polysource.datasets import QUOTE, Quote
from polysource.testing import FakeClock, FakeProvider

DAY = 24 * 3600
STEP = 60.0


def _providers(clock: FakeClock, seed: int) -> tuple[FakeProvider, FakeProvider]:
    rng = random.Random(seed)
    start = clock.monotonic()

    async def primary_answer(request: Any) -> Quote:
        hour = (clock.monotonic() - start) / 3600
        degraded = 8 <= hour < 16
        await clock.sleep(0.8 if degraded else 0.1)
        if degraded and rng.random() < 0.6:
            raise ProviderError("degraded", provider="primary", category="provider_down")
        return Quote(request.key, 100.0)

    async def backup_answer(request: Any) -> Quote:
        await clock.sleep(0.3)
        return Quote(request.key, 100.0)

    primary = FakeProvider("primary", regions={"US": 1}, clock=clock, cost_per_call=1.0)
    backup = FakeProvider("backup", regions={"US": 2}, clock=clock, cost_per_call=1.3)
    primary.answer("*", primary_answer)
    backup.answer("*", backup_answer)
    return primary, backup


async def _day(selection: str, seed: int) -> tuple[int, float, int]:
    clock = FakeClock()
    primary, backup = _providers(clock, seed)
    config = load_config(
        environ={},
        overrides={
            "region": "US",
            "deadline": 1.5,
            "selection": selection,
            "selection_options": {"seed": seed, "slow": 0.5},
            "telemetry": {"log": False},
            "providers": {
                name: {"timeout": 1.0, "retry": {"attempts": 2}} for name in ("primary", "backup")
            },
        },
    )
    orch = Orchestrator(
        config, plugins=[primary, backup], clock=clock, entry_points=False, environ={}
    )
    await orch.start()
    served = 0
    requests = int(DAY / STEP)
    for i in range(requests):
        started = clock.monotonic()
        try:
            await clock.run(orch.fetch(QUOTE, f"K{i}", skip_cache=True))
            served += clock.monotonic() - started <= 1.5
        except PolysourceError:  # AllProvidersFailed: not served
            pass
        await clock.advance(max(0.0, STEP - (clock.monotonic() - started)))
    cost = sum(p.cost_spent for p in orch.stats().providers.values())
    await orch.close()
    return served, cost, requests


def _at_least(fig: dict[str, Any], ok: bool) -> dict[str, Any]:
    """A figure where polysource must reach the anchor (as many requests served)."""
    return {**fig, "budget": ">= 1.0", "ok": ok}


async def run(quick: bool) -> list[dict[str, Any]]:
    seeds = [1] if quick else [1, 2, 3]
    totals: dict[str, list[float]] = {"priority": [0, 0], "adaptive": [0, 0]}
    requests = 0
    for seed in seeds:
        for selection, total in totals.items():
            served, cost, requests = await _day(selection, seed)
            total[0] += served
            total[1] += cost
    n = len(seeds)
    p_served, p_cost = (v / n for v in totals["priority"])
    a_served, a_cost = (v / n for v in totals["adaptive"])
    return [
        _at_least(
            figure(
                "selection_day_served_adaptive_vs_priority",
                a_served,
                p_served,
                None,
                anchor_name=f"priority (of {requests} requests a day)",
                unit="requests",
            ),
            a_served >= p_served,
        ),
        figure(
            "selection_day_cost_adaptive_vs_priority",
            a_cost,
            p_cost,
            1.0,
            anchor_name="priority",
            unit="cost",
        ),
    ]
