"""Side-by-side measurement: candidates interleaved in rotating order, per-op timing.

Every candidate is an async zero-argument callable. Each repeat runs ``rounds`` rounds; in each
round every candidate runs ``ops`` single operations, each timed with ``perf_counter_ns`` minus
the cost of an empty timer pair. The order of candidates rotates every round. GC stays on.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

Op = Callable[[], Awaitable[Any]]


def timer_overhead(samples: int = 20_000) -> int:
    """Median cost of an empty ``perf_counter_ns`` pair."""
    clock = time.perf_counter_ns
    costs = []
    for _ in range(samples):
        start = clock()
        costs.append(clock() - start)
    return int(statistics.median(costs))


async def measure(
    candidates: dict[str, Op],
    *,
    repeats: int = 5,
    rounds: int = 20,
    ops: int = 200,
    warmup: int = 500,
) -> dict[str, dict[str, float]]:
    """Per candidate: median of per-repeat medians, p50 and p99 over all ops, spread."""
    clock = time.perf_counter_ns
    overhead = timer_overhead()
    for op in candidates.values():
        for _ in range(warmup):
            await op()
    names = list(candidates)
    samples: dict[str, list[list[int]]] = {name: [] for name in names}
    for _ in range(repeats):
        per_repeat: dict[str, list[int]] = {name: [] for name in names}
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                op = candidates[name]
                bucket = per_repeat[name]
                for _ in range(ops):
                    start = clock()
                    await op()
                    bucket.append(clock() - start - overhead)
        for name in names:
            samples[name].append(per_repeat[name])
    out: dict[str, dict[str, float]] = {}
    for name in names:
        medians = [statistics.median(r) for r in samples[name]]
        every = sorted(v for r in samples[name] for v in r)
        out[name] = {
            "median_ns": statistics.median(medians),
            "p50_ns": every[len(every) // 2],
            "p99_ns": every[int(len(every) * 0.99)],
            "spread": (max(medians) - min(medians)) / statistics.median(medians),
        }
    return out


async def measure_batches(
    candidates: dict[str, Op], *, repeats: int = 5, rounds: int = 10
) -> dict[str, dict[str, float]]:
    """Like :func:`measure` but each op is a whole batch (timed once per call)."""
    return await measure(candidates, repeats=repeats, rounds=rounds, ops=1, warmup=3)


def figure(
    name: str,
    value: float,
    anchor: float,
    budget: float | None,
    *,
    anchor_name: str,
    unit: str = "ns",
    **extra: Any,
) -> dict[str, Any]:
    """One reported figure: ratio of value to anchor against a budget."""
    ratio = value / anchor if anchor else float("inf")
    return {
        "name": name,
        "ratio": round(ratio, 3),
        "budget": budget,
        "ok": budget is None or ratio <= budget,
        f"value_{unit}": round(value, 1),
        "anchor": anchor_name,
        f"anchor_{unit}": round(anchor, 1),
        **extra,
    }


def emit(figures: list[dict[str, Any]]) -> None:
    """Print one JSON object per figure."""
    for fig in figures:
        print(json.dumps(fig), flush=True)
