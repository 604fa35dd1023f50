"""The attempt stage: call one provider with its breaker, limits, budget, timeout and retries.

For a healthy provider the cost above the call itself is a breaker flag check, a rate-limit hit
(if limits are configured), a budget spend (if a budget is configured), one timeout context and
a few counter increments. The retry loop costs nothing until an attempt fails.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from polysource.clock import Clock
from polysource.config import ProviderConfig
from polysource.engine.guard import FAILED
from polysource.engine.health import HealthTracker
from polysource.engine.telemetry import Emitter
from polysource.errors import ErrorCategory, ProviderError
from polysource.events import EventKind
from polysource.models import BreakerState, Dataset, ProviderInfo, ProviderStats
from polysource.provider import Provider
from polysource.resilience.breaker import Breaker
from polysource.resilience.budget import CostBudget
from polysource.resilience.ratelimit import RateLimiter
from polysource.resilience.retry import RetryBudget, backoff

if TYPE_CHECKING:
    from polysource.engine.guard import Guard

__all__ = ["BREAKER_CATEGORIES", "BreakerObserver", "ProviderSlot", "accepted", "attempt"]

T = TypeVar("T")

BREAKER_CATEGORIES = frozenset(
    {
        ErrorCategory.NETWORK,
        ErrorCategory.TIMEOUT,
        ErrorCategory.PROVIDER_DOWN,
        ErrorCategory.INVALID_RESPONSE,
    }
)
"""Failures that count against a provider's breaker and health (not not_found, auth, ...)."""


def accepted(provider: str, dataset: Dataset[Any], value: Any) -> Any:
    """``value``, if it is an instance of the dataset's schema and passes its validators.

    Every provider answer to a dataset read passes here (``fetch``, ``fetch_many`` and its
    batches, ``fetch_merged``, the parts of a composite), inside the attempt, so a failure
    counts against the provider like any other bad response.

    Raises:
        ProviderError: ``invalid_response`` naming the schema or the failed check.
    """
    schema = dataset.schema
    if not isinstance(value, schema):
        raise ProviderError(
            f"answer is {type(value).__name__}, not {schema.__name__}",
            provider=provider,
            category=ErrorCategory.INVALID_RESPONSE,
        )
    if dataset.validators:
        problem = dataset.check(value)
        if problem is not None:
            raise ProviderError(
                f"answer fails a check of {dataset.name}: {problem}",
                provider=provider,
                category=ErrorCategory.INVALID_RESPONSE,
            )
    return value


class BreakerObserver(Protocol):
    """Where a provider's breaker reports beyond this process (the fleet implements it)."""

    def breaker_changed(self, slot: ProviderSlot, new: BreakerState) -> None:
        """The local breaker changed state."""
        ...

    async def count_failure(self, slot: ProviderSlot) -> None:
        """A failure that counts against the breaker."""
        ...

    def clear_failures(self, slot: ProviderSlot) -> None:
        """A success after failures."""
        ...

    async def claim_trial(self, slot: ProviderSlot) -> bool:
        """Whether this process runs the half-open breaker's trial."""
        ...

    def release_trial(self, slot: ProviderSlot) -> None:
        """A trial this process took ended without a verdict."""
        ...


class ProviderSlot:
    """One provider with everything the engine keeps about it.

    ``fleet`` is where the breaker reports beyond this process, and ``shared_guard`` bounds
    and detaches the shared limits storage (the fleet, when the limits live on its servers).
    """

    def __init__(
        self,
        provider: Provider,
        info: ProviderInfo,
        config: ProviderConfig,
        clock: Clock,
        emitter: Emitter,
        rng: random.Random,
        shared_limits: Any = None,
        shared_guard: Guard | None = None,
        fleet: BreakerObserver | None = None,
    ) -> None:
        self.name = info.name
        self.provider = provider
        self.info = info
        self.config = config
        self.clock = clock
        self.emitter = emitter
        self.rng = rng
        self.timeout = config.timeout
        self.cost = config.cost_per_call if config.cost_per_call is not None else info.cost_per_call
        self.breaker = Breaker(self.name, config.breaker, clock, self._breaker_changed)
        limits = config.rate_limits if config.rate_limits is not None else info.rate_limits
        self.limiter = RateLimiter(self.name, limits, shared=shared_limits) if limits else None
        self.shared_guard = shared_guard
        """Bounds and detaches the shared limits storage (the fleet, when it is the fleet's)."""
        self.budget = (
            CostBudget(
                config.budget.limit,
                config.budget.period,
                clock,
                self.name,
                shared=shared_limits,
                tz=config.budget.tz,
                cron=config.budget.cron,
            )
            if config.budget
            else None
        )
        self.shared_gate = (self.limiter is not None and self.limiter.is_shared) or (
            self.budget is not None and self.budget.is_shared
        )
        """Whether the gate also asks the fleet's storage (rate limits, cost budget)."""
        self.fleet = fleet
        """Fleet coordination of the breaker, when configured."""
        self.retry_budget = RetryBudget(config.retry.budget_ratio, config.retry.min_retries, clock)
        self.health = HealthTracker(
            self.name,
            clock,
            down_after=config.down_after,
            probe_interval=config.probe_interval,
            on_change=self._health_changed,
        )
        self.attempts = 0
        self.successes = 0
        self.failures = 0
        self.retries = 0
        self.skipped = 0
        self.batches = 0
        self.observe: Callable[[str, bool, float, float], None] | None = None
        """The selection policy's ``observe``, when the policy learns (set by the engine)."""

    def _breaker_changed(self, old: Any, new: Any) -> None:
        self.emitter.emit(
            EventKind.BREAKER, provider=self.name, detail={"from": old.value, "to": new.value}
        )
        if self.fleet is not None:
            self.fleet.breaker_changed(self, new)

    def _health_changed(self, old: Any, new: Any, reason: str) -> None:
        self.emitter.emit(
            EventKind.HEALTH,
            provider=self.name,
            detail={"from": old.value, "to": new.value, "reason": reason},
        )

    def stats(self) -> ProviderStats:
        """Counters as a value."""
        return ProviderStats(
            attempts=self.attempts,
            successes=self.successes,
            failures=self.failures,
            retries=self.retries,
            skipped=self.skipped,
            cost_spent=self.budget.total_spent if self.budget else self.cost * self.attempts,
            budget_limit=self.budget.limit if self.budget else None,
            budget_spent=self.budget.limit - self.budget.remaining if self.budget else 0.0,
            budget_resets_at=self.budget.resets_at if self.budget else None,
        )

    def _skip(self, category: ErrorCategory, message: str, target: str) -> ProviderError:
        self.skipped += 1
        if self.emitter.wants[EventKind.SKIPPED]:
            self.emitter.emit(
                EventKind.SKIPPED, dataset=target, provider=self.name, category=category.value
            )
        return ProviderError(message, provider=self.name, category=category, retryable=False)

    def gate(self, target: str) -> ProviderError | None:
        """Check breaker, rate limit and budget; the error to record if the call is skipped."""
        if not self.breaker.allow():
            return self._skip(ErrorCategory.CIRCUIT_OPEN, "circuit breaker is open", target)
        limiter = self.limiter
        if limiter is not None and not limiter.is_shared and not limiter.acquire():
            self.breaker.release()
            return self._skip(ErrorCategory.RATE_LIMIT, "local rate limit reached", target)
        budget = self.budget
        if budget is not None and not budget.is_shared and not budget.try_spend(self.cost):
            self.breaker.release()
            self._skip(ErrorCategory.BUDGET_EXHAUSTED, "cost budget spent", target)
            return budget.exhausted(self.cost)
        return None

    def resting(self, target: str) -> ProviderError | None:
        """The skip error if health keeps the provider out of this request, else ``None``.

        Health decides only while the breaker is closed: out of rotation, the provider is asked
        once per ``probe_interval`` (the probe) and skipped as ``provider_down`` otherwise. An
        open or half-open breaker decides by itself (``circuit_open``, or its trials), so the
        two never stack and half-open trials run as configured.
        """
        health = self.health
        if health.in_rotation or not self.breaker.is_closed or health.admit():
            return None
        wait = max(0.0, health.next_probe - self.clock.monotonic())
        return self._skip(
            ErrorCategory.PROVIDER_DOWN,
            f"out of rotation after {health.consecutive_failures} consecutive failures; "
            f"next probe in {wait:.3g}s",
            target,
        )

    def disabled(self, target: str) -> ProviderError:
        """The skip error of a provider the operator disabled."""
        return self._skip(ErrorCategory.PROVIDER_DOWN, "disabled by the operator", target)

    def may_answer(self) -> bool:
        """Whether a call could reach the provider now: its breaker is not open, and it is in
        rotation or due a probe (the walk keeps time for the next provider that may answer)."""
        if self.breaker.state is BreakerState.OPEN:
            return False
        health = self.health
        return (
            health.in_rotation
            or not self.breaker.is_closed
            or self.clock.monotonic() >= health.next_probe
        )


async def _gate_shared(slot: ProviderSlot, target: str) -> ProviderError | None:
    """The fleet-wide rate limit and cost budget (after the local gate passed).

    Permits and cost are leased from the shared storage in blocks, so most calls make no round
    trip, and the renewals one call needs run together: one round trip at most. While the
    storage is detached (it failed or timed out within the last cool-down) the local limit and
    budget stand in, without waiting on it.
    """
    limiter = slot.limiter
    budget = slot.budget
    shared_limit = limiter is not None and limiter.is_shared
    shared_budget = budget is not None and budget.is_shared
    guard = slot.shared_guard
    now = slot.clock.time()
    local = guard is None or not guard.attached()
    if not local:
        renewals = limiter.shared_renewals(now) if shared_limit else []  # type: ignore[union-attr]
        renewal = budget.shared_renewal(slot.cost, now) if shared_budget else None  # type: ignore[union-attr]
        if renewal is not None:
            renewals.append(renewal)
        if renewals:
            assert guard is not None
            work = renewals[0] if len(renewals) == 1 else asyncio.gather(*renewals)
            local = await guard.run(work) is FAILED
    if shared_limit:
        assert limiter is not None
        if local:
            limiter.fallbacks += 1
        if not (limiter.acquire() if local else limiter.take_shared(now)):
            slot.breaker.release()
            if budget is not None and not budget.is_shared:
                budget.refund(slot.cost)
            scope = "local" if local else "fleet"
            return slot._skip(ErrorCategory.RATE_LIMIT, f"{scope} rate limit reached", target)
    if shared_budget:
        assert budget is not None
        if local:
            budget.fallbacks += 1
        if not (budget.try_spend(slot.cost) if local else budget.spend_shared(slot.cost, now)):
            slot.breaker.release()
            scope = "local" if local else "fleet"
            slot._skip(ErrorCategory.BUDGET_EXHAUSTED, f"{scope} cost budget spent", target)
            return budget.exhausted(slot.cost, scope)
    return None


async def _claim_trial(
    slot: ProviderSlot, fleet: BreakerObserver, target: str
) -> ProviderError | None:
    """A half-open breaker admitted a trial: it runs only if this process takes the fleet's."""
    if await fleet.claim_trial(slot):
        return None
    slot.breaker.release()
    if slot.budget is not None:
        slot.budget.refund(slot.cost)
    return slot._skip(
        ErrorCategory.CIRCUIT_OPEN, "circuit breaker is half-open; its trial runs elsewhere", target
    )


def _classify(exc: BaseException, slot: ProviderSlot, per_try: float) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderError(
            f"no answer within {per_try:.3g}s", provider=slot.name, category=ErrorCategory.TIMEOUT
        )
    return ProviderError(
        f"provider raised {type(exc).__name__}",
        provider=slot.name,
        category=ErrorCategory.INVALID_RESPONSE,
    )


def _may_retry(slot: ProviderSlot, delay: float, deadline: float, reserve: float | None) -> bool:
    """Whether a retry after ``delay`` fits before the deadline.

    With a next provider to fall back on (``reserve`` its per-try timeout), the retry must
    be able to run its whole per-try timeout and still leave ``reserve`` for that provider;
    otherwise the walk fails over at once. The last provider starves nobody: its retry only
    has to start before the deadline (which then cuts it short).
    """
    start = slot.clock.monotonic() + delay
    if reserve is None:
        return start < deadline
    return start + slot.timeout + reserve <= deadline


def _no_verdict(slot: ProviderSlot, trial: bool) -> None:
    """The call ended with no verdict on the provider (deadline, cancellation, an error that
    says nothing of its health): give back the breaker's half-open permit, and the fleet's
    trial if this call held it."""
    slot.breaker.release()
    if trial:
        assert slot.fleet is not None
        slot.fleet.release_trial(slot)


async def attempt(  # noqa: PLR0915 - one loop: gate, call, classify, retry
    slot: ProviderSlot,
    call: Callable[[], Awaitable[T]],
    *,
    target: str,
    deadline: float,
    key: str | None = None,
    private: bool = False,
    retry: bool = True,
    reserve: float | None = None,
) -> T:
    """Call one provider: gate it, time it out, retry transient failures within the deadline.

    Args:
        slot: The provider.
        call: A zero-argument coroutine function making the provider call.
        target: Dataset or operation name (for events).
        deadline: Monotonic time by which everything must be done.
        key: The request key (for events; redacted when ``private``).
        private: Whether the key is private data.
        retry: Whether transient failures may be retried (``False`` for non-idempotent work).
        reserve: Seconds to leave before the deadline for the next provider of the walk (its
            per-try timeout), or ``None`` when there is none: a retry that cannot finish and
            leave that much is not started.

    Raises:
        ProviderError: The provider was skipped or failed (after retries).
    """
    clock = slot.clock
    emitter = slot.emitter
    config = slot.config.retry
    tries = config.attempts if retry else 1
    number = 0
    while True:
        number += 1
        skipped = slot.gate(target)
        if skipped is None and slot.shared_gate:
            skipped = await _gate_shared(slot, target)
        trial = False  # whether this call holds the fleet's half-open trial
        if skipped is None and slot.fleet is not None and not slot.breaker.is_closed:
            skipped = await _claim_trial(slot, slot.fleet, target)
            trial = skipped is None
        if skipped is not None:
            raise skipped
        now = clock.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            _no_verdict(slot, trial)
            raise ProviderError(
                "request deadline passed",
                provider=slot.name,
                category=ErrorCategory.TIMEOUT,
                retryable=False,
            )
        per_try = slot.timeout if slot.timeout < remaining else remaining
        slot.attempts += 1
        slot.retry_budget.record_call()
        if emitter.wants[EventKind.ATTEMPT]:
            emitter.emit(
                EventKind.ATTEMPT,
                dataset=target,
                key=key,
                private=private,
                provider=slot.name,
                attempt=number,
            )
        try:
            async with clock.timeout(per_try):
                value = await call()
        except asyncio.CancelledError:
            _no_verdict(slot, trial)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            error = _classify(exc, slot, per_try)
            if error is not exc:
                error.__cause__ = exc
        else:
            latency = clock.monotonic() - now
            if slot.observe is not None:
                slot.observe(slot.name, True, latency, slot.cost)
            slot.successes += 1
            if slot.breaker.record_success() and slot.fleet is not None:
                slot.fleet.clear_failures(slot)
            slot.health.success(latency)
            if emitter.wants[EventKind.SUCCESS]:
                emitter.emit(
                    EventKind.SUCCESS,
                    dataset=target,
                    key=key,
                    private=private,
                    provider=slot.name,
                    duration=latency,
                    attempt=number,
                )
            return value
        slot.failures += 1
        if slot.observe is not None:
            slot.observe(slot.name, False, clock.monotonic() - now, slot.cost)
        if error.category in BREAKER_CATEGORIES:
            slot.breaker.record_failure()
            slot.health.failure(error.category.value)
            if slot.fleet is not None:
                await slot.fleet.count_failure(slot)
        else:
            _no_verdict(slot, trial)
        if emitter.wants[EventKind.FAILURE]:
            emitter.emit(
                EventKind.FAILURE,
                dataset=target,
                key=key,
                private=private,
                provider=slot.name,
                category=error.category.value,
                attempt=number,
                duration=clock.monotonic() - now,
            )
        if not error.retryable or number >= tries:
            raise error
        delay = backoff(number, config, slot.rng, error.retry_after)
        if not _may_retry(slot, delay, deadline, reserve) or not slot.retry_budget.try_retry():
            raise error
        slot.retries += 1
        if emitter.wants[EventKind.RETRY]:
            emitter.emit(
                EventKind.RETRY,
                dataset=target,
                key=key,
                private=private,
                provider=slot.name,
                attempt=number + 1,
                category=error.category.value,
                detail={"delay": round(delay, 6)},
            )
        await clock.sleep(delay)
