"""The resilience wrapper around a no-op provider vs the same stack built from peer libraries.

polysource: breaker check, rate limit, cost budget, per-try timeout and the retry loop
(``engine.attempt``). Peers: ``asyncio.timeout`` + purgatory + tenacity + aiolimiter. Each
piece of polysource's wrapper is also timed alone, so a later change shows which one moved.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from _harness import figure, measure

from polysource.clock import SystemClock
from polysource.config import load_config
from polysource.engine.attempt import ProviderSlot, attempt
from polysource.engine.telemetry import Emitter
from polysource.errors import ProviderError
from polysource.models import ProviderInfo


async def noop() -> int:
    return 1


def _slot(**config: Any) -> ProviderSlot:
    provider_config = load_config(environ={}, overrides={"providers": {"p": config}}).provider("p")
    clock = SystemClock()
    return ProviderSlot(
        provider=None,  # type: ignore[arg-type]
        info=ProviderInfo("p", datasets={"quote"}),
        config=provider_config,
        clock=clock,
        emitter=Emitter((), clock),
        rng=random.Random(1),
    )


async def run(quick: bool) -> list[dict[str, Any]]:
    import tenacity
    from aiolimiter import AsyncLimiter
    from purgatory import AsyncCircuitBreakerFactory

    full = _slot(
        timeout=5.0,
        rate_limits=["1000000000/second"],
        cost_per_call=0.001,
        budget={"limit": 1e12, "period": "day"},
        retry={"attempts": 3},
    )
    bare = _slot(timeout=5.0, retry={"attempts": 3})
    far = time.monotonic() + 1e9

    async def polysource() -> Any:
        return await attempt(full, noop, target="quote", deadline=far)

    async def retry_loop_only() -> Any:
        return await attempt(bare, noop, target="quote", deadline=far)

    breakers = AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=30)
    limiter = AsyncLimiter(10**9, 1)
    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.05, max=2),
        retry=tenacity.retry_if_exception_type(ProviderError),
        reraise=True,
    )

    async def guarded() -> Any:
        async with limiter, asyncio.timeout(5.0), await breakers.get_breaker("p"):
            return await noop()

    async def peers() -> Any:
        return await retrying(guarded)

    async def timeout_alone() -> Any:
        async with asyncio.timeout(5.0):
            return await noop()

    system_clock = SystemClock()

    async def clock_timeout_alone() -> Any:
        async with system_clock.timeout(5.0):
            return await noop()

    async def bare_noop() -> Any:
        return await noop()

    breaker = full.breaker

    async def breaker_alone() -> Any:
        breaker.allow()
        breaker.record_success()

    limiter_ours = full.limiter
    assert limiter_ours is not None

    async def ratelimit_alone() -> Any:
        return limiter_ours.acquire()

    budget = full.budget
    assert budget is not None

    async def budget_alone() -> Any:
        return budget.try_spend(0.001)

    result = await measure(
        {
            "polysource": polysource,
            "peers": peers,
            "noop": bare_noop,
            "asyncio_timeout": timeout_alone,
            "timeout": clock_timeout_alone,
            "breaker": breaker_alone,
            "ratelimit": ratelimit_alone,
            "budget": budget_alone,
            "retry_loop": retry_loop_only,
        },
        repeats=3 if quick else 5,
        rounds=6 if quick else 20,
        ops=100,
    )
    noop_ns = result["noop"]["median_ns"]
    pieces = [
        figure(
            f"resilience_piece_{name}",
            result[name]["median_ns"],
            noop_ns,
            None,
            anchor_name="await noop()",
        )
        for name in ("asyncio_timeout", "timeout", "breaker", "ratelimit", "budget", "retry_loop")
    ]
    return [
        figure(
            "resilience_vs_peers",
            result["polysource"]["median_ns"],
            result["peers"]["median_ns"],
            0.3,
            anchor_name="asyncio.timeout + purgatory + tenacity + aiolimiter",
            p99_ns=result["polysource"]["p99_ns"],
        ),
        *pieces,
    ]
