"""Retry policy: full-jitter exponential backoff and an Envoy-style retry budget.

The retry loop itself lives in the attempt stage and costs nothing until an attempt fails.
"""

from __future__ import annotations

import random

from polysource.clock import Clock
from polysource.config import RetryConfig

__all__ = ["RetryBudget", "backoff"]


def backoff(
    attempt: int, config: RetryConfig, rng: random.Random, retry_after: float | None = None
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    Full jitter: uniform in ``[0, min(max_delay, base_delay * 2 ** (attempt - 1))]``. A
    ``Retry-After`` from the provider is a floor: we never retry sooner than it asked.
    """
    ceiling = min(config.max_delay, config.base_delay * (2 ** (attempt - 1)))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


class RetryBudget:
    """Caps retries at a share of calls over a rolling window, so retries cannot multiply load.

    Within a window of ``window`` seconds, a retry is allowed while
    ``retries < max(min_retries, ratio * calls)``.

    Args:
        ratio: Retries allowed per call.
        min_retries: Retries always allowed per window.
        clock: The time source.
        window: Window length in seconds.
    """

    __slots__ = ("_calls", "_clock", "_retries", "_window_end", "min_retries", "ratio", "window")

    def __init__(self, ratio: float, min_retries: int, clock: Clock, window: float = 10.0) -> None:
        self.ratio = ratio
        self.min_retries = min_retries
        self.window = window
        self._clock = clock
        self._window_end = 0.0
        self._calls = 0
        self._retries = 0

    def _roll(self) -> None:
        now = self._clock.monotonic()
        if now >= self._window_end:
            self._window_end = now + self.window
            self._calls = 0
            self._retries = 0

    def record_call(self) -> None:
        """Count one call (first tries and retries alike)."""
        self._roll()
        self._calls += 1

    def try_retry(self) -> bool:
        """Take a retry from the budget; ``False`` when the budget is spent."""
        self._roll()
        if self._retries < max(self.min_retries, self.ratio * self._calls):
            self._retries += 1
            return True
        return False
