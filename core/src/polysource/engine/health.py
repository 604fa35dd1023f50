"""Per-provider health: outcomes, latency, rotation and probes.

A provider with ``down_after`` (5) consecutive failures leaves rotation; while out, one request
every ``probe_interval`` seconds is let through as a probe, and a successful probe brings the
provider back. Every change of status is reported through ``on_change``.

Rotation gates a provider only while its circuit breaker is closed: an open or half-open
breaker decides admission by itself (``circuit_open``, or its trials), and any success, a
trial's included, brings the provider back in rotation (see ``ProviderSlot.resting``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from polysource.clock import Clock
from polysource.models import BreakerState, HealthStatus, ProviderHealth

__all__ = ["HealthTracker"]


class HealthTracker:
    """Tracks one provider.

    Args:
        name: Provider name.
        clock: Time source.
        down_after: Consecutive failures that take the provider out of rotation.
        probe_interval: Seconds between probes of a provider out of rotation.
        on_change: Called with ``(old, new, reason)`` when the status changes.
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        down_after: int = 5,
        probe_interval: float = 30.0,
        on_change: Callable[[HealthStatus, HealthStatus, str], None] | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.down_after = down_after
        self.probe_interval = probe_interval
        self.on_change = on_change
        self.outcomes: deque[bool] = deque(maxlen=100)
        self.latencies: deque[float] = deque(maxlen=10)
        self.consecutive_failures = 0
        self.in_rotation = True
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._next_probe = 0.0
        self._status = HealthStatus.UNKNOWN

    def admit(self) -> bool:
        """Whether a request may use the provider now (always, unless out of rotation)."""
        if self.in_rotation:
            return True
        now = self.clock.monotonic()
        if now >= self._next_probe:
            self._next_probe = now + self.probe_interval
            return True
        return False

    @property
    def next_probe(self) -> float:
        """Monotonic time of the next probe while out of rotation."""
        return self._next_probe

    def success(self, latency: float) -> None:
        """Record a successful call."""
        self.outcomes.append(True)
        self.latencies.append(latency)
        self.consecutive_failures = 0
        if not self.in_rotation:
            self.in_rotation = True
            self._update("probe succeeded")
        elif self._status is not HealthStatus.HEALTHY:
            self._update("success")

    def failure(self, category: str) -> None:
        """Record a failed call."""
        self.outcomes.append(False)
        self.consecutive_failures += 1
        self.last_error = category
        self.last_error_at = self.clock.time()
        if self.in_rotation and self.consecutive_failures >= self.down_after:
            self.in_rotation = False
            self._next_probe = self.clock.monotonic() + self.probe_interval
            self._update(f"{self.consecutive_failures} consecutive failures")
        else:
            self._update(category)

    def restore(self, reason: str = "enabled") -> None:
        """Put the provider back in rotation (an operator's enable or breaker reset)."""
        self.in_rotation = True
        self.consecutive_failures = 0
        self._update(reason)

    @property
    def uptime(self) -> float | None:
        """Share of successes among the last 100 calls."""
        return sum(self.outcomes) / len(self.outcomes) if self.outcomes else None

    @property
    def latency(self) -> float | None:
        """Mean latency of the last 10 successes, in seconds."""
        return sum(self.latencies) / len(self.latencies) if self.latencies else None

    def status(self, breaker: BreakerState = BreakerState.CLOSED) -> HealthStatus:
        """The provider's status."""
        if not self.in_rotation or breaker is BreakerState.OPEN:
            return HealthStatus.DOWN
        if not self.outcomes:
            return HealthStatus.UNKNOWN
        uptime = self.uptime or 0.0
        if self.consecutive_failures or uptime < 0.9 or breaker is BreakerState.HALF_OPEN:
            return HealthStatus.DEGRADED
        return HealthStatus.HEALTHY

    def _update(self, reason: str) -> None:
        new = self.status()
        old = self._status
        if new is not old:
            self._status = new
            if self.on_change is not None:
                self.on_change(old, new, reason)

    def report(
        self, breaker: BreakerState, enabled: bool, rank_override: int | None = None
    ) -> ProviderHealth:
        """A snapshot for ``orch.health()``."""
        return ProviderHealth(
            provider=self.name,
            status=self.status(breaker) if enabled else HealthStatus.DOWN,
            breaker=breaker,
            enabled=enabled,
            in_rotation=self.in_rotation,
            consecutive_failures=self.consecutive_failures,
            uptime=self.uptime,
            latency=self.latency,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            rank_override=rank_override,
        )
