"""The execute stage: operations with failover that respects the taxonomy and idempotency.

- Order: the (operation, region) failover order as the selection policy orders it, as for
  ``fetch``; ``prefer`` moves one provider first.
- Sticky operations (reads of a tenant's bank data) go only to providers where the tenant has a
  connection; the others are recorded as ``auth`` ("not linked") and skipped.
- Providers the operator disabled, and those out of health rotation, are skipped and reported
  as the fetch walk reports them (``provider_down`` with the reason); so are providers whose
  breaker is open, or whose rate limit or budget is spent (by the attempt stage).
- A retry of an idempotent operation starts only if it leaves the next provider that may
  answer (linked, for a sticky operation) its full per-try timeout, as in the fetch walk.
- ``invalid_request`` stops (unless ``unsupported``); ``auth`` skips only that provider.
- A non-idempotent operation is not retried, and if its call timed out or lost its connection
  after the request may have reached the provider, it is not failed over either: the error
  says so, so the app can check before trying again.
- A successful ``create_link``/``exchange_token`` that yields a connection is saved in the
  connection store; a ``sync_transactions`` cursor is saved with the connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from polysource.connections import Connection, ConnectionStore
from polysource.engine.attempt import ProviderSlot
from polysource.errors import AllProvidersFailed, ErrorCategory, ProviderError, stops_failover
from polysource.events import EventKind
from polysource.models import Operation, OperationCall, OperationResult

if TYPE_CHECKING:
    from polysource.engine.fetch import FetchEngine

__all__ = ["execute"]

_MAY_HAVE_REACHED = frozenset({ErrorCategory.TIMEOUT, ErrorCategory.NETWORK})


def _not_linked(slot: ProviderSlot, operation: Operation[Any, Any]) -> ProviderError:
    return ProviderError(
        f"tenant has no connection at this provider; link it before {operation.name}",
        provider=slot.name,
        category=ErrorCategory.AUTH,
        retryable=False,
    )


def _order(
    engine: FetchEngine, operation: Operation[Any, Any], region: str, prefer: str | None
) -> tuple[str, ...]:
    """The operation's route as the selection policy orders it, ``prefer`` moved first."""
    order = engine.calls.route(operation.name, region)
    if prefer is not None and prefer in order:
        order = (prefer, *(name for name in order if name != prefer))
    return order


async def _connections(
    store: ConnectionStore, tenant: str | None, order: tuple[str, ...]
) -> dict[str, Connection]:
    """The tenant's connections at the providers of ``order``."""
    found: dict[str, Connection] = {}
    if tenant is not None:
        for name in order:
            connection = await store.get(tenant, name)
            if connection is not None:
                found[name] = connection
    return found


async def _save_connection(
    store: ConnectionStore,
    slot: ProviderSlot,
    tenant: str | None,
    value: Any,
    connection: Connection | None,
) -> None:
    if tenant is None:
        return
    access = getattr(value, "access_token", None)
    link_id = getattr(value, "link_id", None)
    if access is not None or (link_id is not None and getattr(value, "status", "") == "active"):
        await store.save(
            Connection(tenant, slot.name, link_id, access, getattr(value, "institution", None))
        )
    elif connection is not None and getattr(value, "cursor", None):
        await store.save(attrs.evolve(connection, cursor=value.cursor))


async def execute(
    *,
    operation: Operation[Any, Any],
    params: Any,
    engine: FetchEngine,
    store: ConnectionStore,
    region: str,
    tier: str,
    tenant: str | None,
    prefer: str | None,
    time_limit: float,
) -> OperationResult[Any]:
    """Run ``operation`` on the first provider that can, failing over as the rules allow.

    The providers are walked with the fetch walk's own routing, selection, skip and retry
    rules (see the module docstring).
    """
    clock = engine.clock
    started = clock.monotonic()
    deadline = started + time_limit
    order = _order(engine, operation, region, prefer)
    connections = await _connections(store, tenant, order)
    # The walk's reserve and its "ask them all anyway" look only at providers that could be
    # asked: for a sticky operation, those where the tenant is linked.
    provider_calls = engine.calls
    askable, anyway = provider_calls.walkable(
        tuple(name for name in order if not operation.sticky or name in connections)
    )
    errors: list[ProviderError] = []
    calls = 0
    first = order[0]
    for name in order:
        slot = engine.slots[name]
        connection = connections.get(name)
        if operation.sticky and connection is None:
            errors.append(_not_linked(slot, operation))
            continue
        passed = provider_calls.passed_by(slot, operation.name, anyway)
        if passed is not None:
            errors.append(passed)
            continue
        call = OperationCall(operation, region, tenant, connection, deadline, tier)
        before = slot.attempts
        try:
            reserve = provider_calls.reserve(askable, askable.index(slot))
            value = await provider_calls.execute(slot, operation, params, call, deadline, reserve)
        except ProviderError as error:
            calls += slot.attempts - before
            errors.append(error)
            if stops_failover(error):
                break
            if not operation.idempotent and error.category in _MAY_HAVE_REACHED:
                errors[-1] = ProviderError(
                    f"{error.message}; {operation.name} is not idempotent and may have reached "
                    "the provider, so it was neither retried nor failed over",
                    provider=error.provider,
                    category=error.category,
                    retryable=False,
                )
                errors[-1].__cause__ = error
                break
            continue
        calls += slot.attempts - before
        if not isinstance(value, operation.result):
            errors.append(
                ProviderError(
                    f"answer is {type(value).__name__}, not {operation.result.__name__}",
                    provider=name,
                    category=ErrorCategory.INVALID_RESPONSE,
                )
            )
            continue
        await _save_connection(store, slot, tenant, value, connection)
        if slot.emitter.wants[EventKind.OPERATION]:
            slot.emitter.emit(
                EventKind.OPERATION,
                dataset=operation.name,
                provider=name,
                tenant=tenant,
                duration=clock.monotonic() - started,
            )
        return OperationResult(
            value,
            name,
            failover_used=name != first,
            attempts=calls,
            errors=tuple(errors),
            duration=clock.monotonic() - started,
        )
    raise AllProvidersFailed(f"every provider failed for {operation.name} in {region}", errors)
