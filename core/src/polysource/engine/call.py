"""The provider-call component: the one way the engine calls a provider.

Every walk (serial, hedged, batched), ``fetch_merged`` and ``execute`` call providers through
[`ProviderCalls`][polysource.engine.call.ProviderCalls], so each of them follows the same rules:

- the route as the selection policy orders it, and the policy observes every attempt;
- a provider the operator disabled, or one out of health rotation, is skipped and reported
  (``provider_down`` with the reason) unless no enabled provider is in rotation or decided
  by its breaker, when they are all asked;
- a private dataset is read only with the tenant's connection at that provider (``auth``
  when there is none);
- a single fetch of a batch-capable provider is coalesced with its concurrent neighbours;
- the attempt gates the call (breaker, rate limits, budget), times each try out and retries
  only if the retry leaves the next provider that may answer its full per-try timeout;
- events (attempt, success, failure, retry, batch, failover) are emitted only when a sink
  wants them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from polysource.engine.attempt import ProviderSlot, accepted, attempt
from polysource.engine.batch import Coalescer, load_batch
from polysource.engine.selection import Candidate, PriorityPolicy, SelectionPolicy
from polysource.errors import ErrorCategory, ProviderError
from polysource.events import EventKind

if TYPE_CHECKING:
    from polysource.clock import Clock
    from polysource.connections import ConnectionStore
    from polysource.engine.route import Router
    from polysource.engine.singleflight import TaskSet
    from polysource.engine.telemetry import Emitter
    from polysource.models import Operation, OperationCall, Request

__all__ = ["ProviderCalls"]


class ProviderCalls:
    """Selection, skips, connections, coalescing and the attempt for every provider call.

    Args:
        clock: The engine's clock.
        router: Failover orders and the operator's enable/disable switches.
        slots: The providers by name.
        emitter: Event emission.
        tasks: Owner of the coalescers' dispatch tasks.
        store: Tenants' connections (private datasets are read only where one exists).
        policy: The selection policy (``priority`` order when not given).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        router: Router,
        slots: Mapping[str, ProviderSlot],
        emitter: Emitter,
        tasks: TaskSet,
        store: ConnectionStore,
        policy: SelectionPolicy | None = None,
    ) -> None:
        self.clock = clock
        self.router = router
        self.slots = slots
        self.emitter = emitter
        self.store = store
        self.coalescers: dict[str, Coalescer] = {
            name: Coalescer(slot, tasks, slot.config.coalesce_window)
            for name, slot in slots.items()
            if slot.info.max_batch_size > 1
            and slot.config.coalesce
            and hasattr(slot.provider, "fetch_batch")
        }
        self.policy: SelectionPolicy = PriorityPolicy()
        self.use_policy(policy if policy is not None else self.policy)

    # -- selection -----------------------------------------------------------------------------

    def use_policy(self, policy: SelectionPolicy) -> None:
        """Order candidates with ``policy`` from now on, and let it observe every attempt."""
        self.policy = policy
        learns = not getattr(policy, "is_identity", False)
        for slot in self.slots.values():
            slot.observe = policy.observe if learns else None

    def select(self, target: str, region: str, order: tuple[str, ...]) -> tuple[str, ...]:
        """``order`` as the selection policy wants it for this request."""
        if getattr(self.policy, "is_identity", False) or len(order) < 2:
            return order
        views = []
        for name in order:
            slot = self.slots[name]
            health = slot.health
            views.append(
                Candidate(
                    name,
                    slot.cost,
                    slot.config.weight,
                    health.uptime,
                    health.latency,
                    health.in_rotation,
                )
            )
        chosen = self.policy.order(target, region, views)
        return tuple(name for name in chosen if name in order)

    def route(self, target: str, region: str) -> tuple[str, ...]:
        """The failover order of ``target`` in ``region`` as the selection policy orders it."""
        return self.select(target, region, self.router.route(target, region))

    # -- skips and the reserve rule ------------------------------------------------------------

    def walkable(self, order: Sequence[str]) -> tuple[list[ProviderSlot], bool]:
        """The slots of ``order``, and whether those out of rotation are asked anyway (when no
        enabled provider is in rotation or decided by its breaker)."""
        slots = [self.slots[name] for name in order]
        enabled = self.router.is_enabled
        anyway = not any(
            enabled(slot.name) and (slot.health.in_rotation or not slot.breaker.is_closed)
            for slot in slots
        )
        return slots, anyway

    def passed_by(self, slot: ProviderSlot, target: str, anyway: bool) -> ProviderError | None:
        """Why a walk skips ``slot`` without asking it (disabled by the operator, out of
        rotation), or ``None``; the breaker, rate limit and budget are checked by the attempt."""
        if not self.router.is_enabled(slot.name):
            return slot.disabled(target)
        return None if anyway else slot.resting(target)

    def pass_by(
        self,
        slots: Sequence[ProviderSlot],
        index: int,
        target: str,
        anyway: bool,
        tried: list[str],
        errors: list[ProviderError],
    ) -> int:
        """Skip (and report) the slots from ``index`` on that a serial walk does not ask; the
        next one's index."""
        while index < len(slots) and (passed := self.passed_by(slots[index], target, anyway)):
            tried.append(slots[index].name)
            errors.append(passed)
            index += 1
        return index

    def asked(
        self, order: Sequence[str], target: str, skipped: list[ProviderError]
    ) -> list[ProviderSlot]:
        """The slots of ``order`` a parallel walk asks; those it passes by go to ``skipped``."""
        slots, anyway = self.walkable(order)
        asked = []
        for slot in slots:
            passed = self.passed_by(slot, target, anyway)
            if passed is None:
                asked.append(slot)
            else:
                skipped.append(passed)
        return asked

    def reserve(self, slots: Sequence[ProviderSlot], index: int) -> float | None:
        """The per-try timeout of the next provider after ``slots[index]`` that may answer
        (what that provider's retries must leave), or ``None`` if there is none."""
        enabled = self.router.is_enabled
        for slot in slots[index + 1 :]:
            if enabled(slot.name) and slot.may_answer():
                return slot.timeout
        return None

    def failed_over(self, slot: ProviderSlot, request: Request, error: ProviderError) -> None:
        """Report that the walk moves on from ``slot`` after ``error``."""
        if self.emitter.wants[EventKind.FAILOVER]:
            ds = request.dataset
            self.emitter.emit(
                EventKind.FAILOVER,
                dataset=ds.name,
                key=request.key,
                private=ds.private,
                provider=slot.name,
                category=error.category.value,
            )

    # -- calls ---------------------------------------------------------------------------------

    async def connected(self, slot: ProviderSlot, request: Request) -> Request:
        """``request`` with the tenant's connection at ``slot``; ``auth`` if there is none."""
        assert request.tenant is not None
        connection = await self.store.get(request.tenant, slot.name)
        if connection is None:
            raise ProviderError(
                "tenant has no connection at this provider",
                provider=slot.name,
                category=ErrorCategory.AUTH,
                retryable=False,
            )
        return attrs.evolve(request, connection=connection)

    async def fetch(
        self,
        slot: ProviderSlot,
        request: Request,
        deadline: float,
        reserve: float | None = None,
        *,
        coalesce: bool = True,
    ) -> Any:
        """``request.key`` from ``slot``: with the tenant's connection for a private dataset,
        coalesced with concurrent keys when the provider batches (unless ``coalesce`` is
        false: a batched walk's per-key calls), through the attempt.

        Raises:
            ProviderError: The provider was skipped or failed (after retries).
        """
        if request.dataset.private:
            request = await self.connected(slot, request)
        if coalesce:
            coalescer = self.coalescers.get(slot.name)
            if coalescer is not None:
                return await coalescer.load(request, deadline, reserve)
        ds = request.dataset
        return await attempt(
            slot,
            functools.partial(_fetch_one, slot, request),
            target=ds.name,
            deadline=deadline,
            key=request.key,
            private=ds.private,
            reserve=reserve,
        )

    async def fetch_batch(
        self,
        slot: ProviderSlot,
        request: Request,
        keys: Sequence[str],
        deadline: float,
        reserve: float | None = None,
    ) -> dict[str, Any]:
        """``keys`` from ``slot`` in one ``fetch_batch`` call through the attempt.

        Raises:
            ProviderError: The batch call failed (after retries); it applies to every key.
        """
        return await load_batch(slot, request, keys, deadline, reserve)

    async def execute(
        self,
        slot: ProviderSlot,
        operation: Operation[Any, Any],
        params: Any,
        call: OperationCall,
        deadline: float,
        reserve: float | None = None,
    ) -> Any:
        """``operation`` at ``slot`` through the attempt, retried only if it is idempotent.

        Raises:
            ProviderError: The provider was skipped or failed (after retries).
        """
        provider: Any = slot.provider
        return await attempt(
            slot,
            functools.partial(provider.execute, operation, params, call),
            target=operation.name,
            deadline=deadline,
            private=operation.private,
            retry=operation.idempotent,
            reserve=reserve,
        )


async def _fetch_one(slot: ProviderSlot, request: Request) -> Any:
    return accepted(slot.name, request.dataset, await slot.provider.fetch(request))
