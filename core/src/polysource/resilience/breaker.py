"""Circuit breakers: purgatory's state machine, driven by polysource's clock.

purgatory's ``Context`` is a pure state machine (closed -> opened -> half-opened) except that
its open state reads ``time.time()`` to decide when to half-open. The :class:`Breaker` below
keeps purgatory's transitions and messages but performs the open -> half-open step itself, on
the injected clock, so tests advance a fake clock instead of sleeping. It adds what purgatory
does not have: a cap on concurrent half-open trials and a number of successes to close.

A healthy call costs an attribute check (``breaker.is_closed``); no lock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from purgatory.domain.model import HALF_OPENED, OPENED, Context, HalfOpenedState, OpenedState

from polysource.clock import Clock
from polysource.config import BreakerConfig
from polysource.models import BreakerState

__all__ = ["Breaker"]

_STATES = {
    "closed": BreakerState.CLOSED,
    OPENED: BreakerState.OPEN,
    HALF_OPENED: BreakerState.HALF_OPEN,
}


class _BreakerFailure(Exception):
    """What the purgatory context is told when a call fails."""


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
        self._context = Context(name, config.failure_threshold, config.recovery_timeout)
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
        if self._context.state == OPENED and (
            self.clock.monotonic() >= self._opened_at + self.config.recovery_timeout
        ):
            self._context.set_state(HalfOpenedState())
            self._trials = 0
            self._successes = 0
            self._sync()

    def allow(self) -> bool:
        """Whether a call may go through now; a half-open breaker admits limited trials."""
        if self.is_closed:
            return True
        self._maybe_half_open()
        state = self._context.state
        if state == HALF_OPENED and self._trials < self.config.half_open_trials:
            self._trials += 1
            return True
        return False

    def record_success(self) -> bool:
        """A call succeeded; ``True`` if it cleared failures counted while closed."""
        if self.is_closed:
            if self._context.failure_count:
                self._context.handle_end_request()
                return True
            return False
        if self._context.state == HALF_OPENED:
            self._successes += 1
            self._trials = max(0, self._trials - 1)
            if self._successes >= self.config.success_threshold:
                self._context.handle_end_request()
                self._sync()
        return False

    def release(self) -> None:
        """An admitted call ended without a verdict (skipped, cancelled, or failed in a way that
        says nothing of the provider's health): give its half-open trial back."""
        if not self.is_closed and self._trials:
            self._trials -= 1

    def record_failure(self) -> None:
        """A call failed in a way that counts against the provider."""
        state = self._context.state
        if state == OPENED:
            return
        self._context.handle_exception(_BreakerFailure(self.name))
        self._sync()

    def trip(self, remaining: float | None = None) -> None:
        """Open the breaker now (the fleet counted enough failures, or another process opened
        it). The recovery timeout starts now, or ends in ``remaining`` seconds when the breaker
        was opened earlier elsewhere."""
        if self._context.state == OPENED:
            return
        self._context.set_state(OpenedState(self.name))
        self._sync()
        if remaining is not None:
            recovery = self.config.recovery_timeout
            self._opened_at -= recovery - min(max(remaining, 0.0), recovery)

    def reset(self) -> None:
        """Close the breaker and forget failures (a manual reset)."""
        self._context = Context(
            self.name, self.config.failure_threshold, self.config.recovery_timeout
        )
        self._sync()

    def _sync(self) -> None:
        """Mirror purgatory's state after a step, timing the open state on our clock."""
        self._context.messages.clear()
        new = _STATES[self._context.state]
        old = self._state
        if new is old:
            return
        if new is BreakerState.OPEN:
            self._opened_at = self.clock.monotonic()
        self._state = new
        self.is_closed = new is BreakerState.CLOSED
        if self.on_change is not None:
            self.on_change(old, new)

    def __repr__(self) -> str:
        return f"Breaker({self.name!r}, state={self.state.value})"
