"""Circuit breakers: a closed -> open -> half-open state machine on polysource's clock.

A closed breaker counts consecutive failures and opens at ``failure_threshold``; an open
breaker refuses calls until ``recovery_timeout`` has passed on the injected clock, then
half-opens; a half-open breaker admits at most ``half_open_trials`` concurrent calls, closes
after ``success_threshold`` successes and opens again on the first failure. Time comes from
the clock, so tests advance a fake clock instead of sleeping.

The states are the ones purgatory's model draws; the machine is written here because it is a
few lines, and importing ``purgatory.domain.model`` runs purgatory's package ``__init__``,
which imports redis-py.

A healthy call costs an attribute check (``breaker.is_closed``); no lock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from polysource.clock import Clock
from polysource.config import BreakerConfig
from polysource.models import BreakerState

__all__ = ["Breaker"]


class Breaker:
    """One provider's circuit breaker.

    Args:
        name: The provider's name.
        config: Thresholds.
        clock: The time source.
        on_change: Called with ``(old, new)`` states on every transition.
    """

    def __init__(
        self,
        name: str,
        config: BreakerConfig,
        clock: Clock,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self.on_change = on_change
        self._failures = 0
        self._opened_at = 0.0
        self._trials = 0
        self._successes = 0
        self._state = BreakerState.CLOSED
        self.is_closed = True

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker past its recovery timeout reads half-open)."""
        self._maybe_half_open()
        return self._state

    def _maybe_half_open(self) -> None:
        if self._state is BreakerState.OPEN and (
            self.clock.monotonic() >= self._opened_at + self.config.recovery_timeout
        ):
            self._trials = 0
            self._successes = 0
            self._move(BreakerState.HALF_OPEN)

    def allow(self) -> bool:
        """Whether a call may go through now; a half-open breaker admits limited trials."""
        if self.is_closed:
            return True
        self._maybe_half_open()
        if self._state is BreakerState.HALF_OPEN and self._trials < self.config.half_open_trials:
            self._trials += 1
            return True
        return False

    def record_success(self) -> bool:
        """A call succeeded; ``True`` if it cleared failures counted while closed."""
        if self.is_closed:
            if self._failures:
                self._failures = 0
                return True
            return False
        if self._state is BreakerState.HALF_OPEN:
            self._successes += 1
            self._trials = max(0, self._trials - 1)
            if self._successes >= self.config.success_threshold:
                self._failures = 0
                self._move(BreakerState.CLOSED)
        return False

    def release(self) -> None:
        """An admitted call ended without a verdict (skipped, cancelled, or failed in a way that
        says nothing of the provider's health): give its half-open trial back."""
        if not self.is_closed and self._trials:
            self._trials -= 1

    def record_failure(self) -> None:
        """A call failed in a way that counts against the provider."""
        if self._state is BreakerState.OPEN:
            return
        if self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures < self.config.failure_threshold:
                return
        self._move(BreakerState.OPEN)

    def trip(self, remaining: float | None = None) -> None:
        """Open the breaker now (the fleet counted enough failures, or another process opened
        it). The recovery timeout starts now, or ends in ``remaining`` seconds when the breaker
        was opened earlier elsewhere."""
        if self._state is BreakerState.OPEN:
            return
        self._move(BreakerState.OPEN)
        if remaining is not None:
            recovery = self.config.recovery_timeout
            self._opened_at -= recovery - min(max(remaining, 0.0), recovery)

    def reset(self) -> None:
        """Close the breaker and forget failures (a manual reset)."""
        self._failures = 0
        self._move(BreakerState.CLOSED)

    def _move(self, new: BreakerState) -> None:
        """Enter ``new``, timing the open state on our clock and telling ``on_change``."""
        old = self._state
        if new is old:
            return
        if new is BreakerState.OPEN:
            self._opened_at = self.clock.monotonic()
            self._failures = 0
        self._state = new
        self.is_closed = new is BreakerState.CLOSED
        if self.on_change is not None:
            self.on_change(old, new)

    def __repr__(self) -> str:
        return f"Breaker({self.name!r}, state={self.state.value})"
