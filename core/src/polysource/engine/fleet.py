"""Fleet coordination: processes that share one Redis behave as one.

A *fleet backend* (claimed by URL scheme through ``register_fleet_backends``; Redis in
``polysource-redis``) offers a message channel every process listens to, atomic counters with
expiry and short leases. On top of it, [`Fleet`][polysource.engine.fleet.Fleet] gives the engine:

- **Breakers.** Each process keeps its breakers' state machines in memory, so a healthy call
  pays no round trip. A failure that counts against a provider is also counted fleet-wide (an
  increment with expiry); when the fleet's count reaches the threshold the breaker opens, and
  every transition to open or closed is published so that every process follows. When a
  breaker half-opens, the trial call goes to the one process that takes the trial lease.
- **Single-flight.** Before calling providers for a cache miss, a process takes a lease on the
  request's shared key. A process that finds it taken waits (at most the lease's remaining time
  and its own deadline) for the holder's answer, which is published with the record; if no
  answer arrives (the holder failed, the message was lost, the wait ended), it reads the
  shared tiers once (the holder's cache write) and then calls the providers itself.
- **Invalidation.** ``Orchestrator.invalidate`` publishes what it dropped, and every process
  drops the same entries from its memory tier. An invalidation made while the fleet is
  detached is published when it is back; a process whose listener was lost drops its whole
  memory tier when it subscribes again (what it missed is unknown).

Every backend operation is bounded by ``timeout``. When one fails the fleet is *detached* for
``cooldown`` seconds: breakers, rate limits and single-flight are then process-local, an event
says so, and the first success afterwards re-attaches it. The listener reconnects on its own.
No request that a provider could answer fails because of the fleet.

Messages are a JSON header line (origin process, kind, fields) and an optional payload (the
encoded record of a finished call), signed with the deployment secret
([`polysource.security.Keyring.sign()`][polysource.security.Keyring.sign]): a message whose
signature is missing or wrong is
dropped, counted in ``rejected_messages`` and reported by a ``fleet`` event (state
``rejected``), so a client that may only publish on the channel can neither answer a flight
nor open a breaker. Each message also carries the wall time it was sent: one older (or
newer) than [`MESSAGE_LIFETIME`][polysource.engine.fleet.MESSAGE_LIFETIME] seconds, or one already
taken, is dropped the same way,
so a genuine message captured on the channel cannot be published again later (a day-old
answer served as fresh, a breaker opened again after it closed). An answer also carries
the digest of the tenant it belongs to, checked by the process that takes it. A process
ignores its own breaker and invalidation messages; the answers of its own flights reach its
waiters at once, without the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, runtime_checkable

import orjson
from attrs import frozen

from polysource.clock import Clock
from polysource.engine.guard import Failed, Guard
from polysource.engine.singleflight import TaskSet
from polysource.engine.telemetry import Emitter
from polysource.events import EventKind
from polysource.models import BreakerState

if TYPE_CHECKING:
    from polysource.engine.attempt import ProviderSlot
    from polysource.security import Keyring

__all__ = [
    "MAX_UNSENT",
    "MESSAGE_LIFETIME",
    "WAITED",
    "BatchLease",
    "Fleet",
    "FleetBackend",
    "FleetContext",
]

T = TypeVar("T")

MESSAGE_LIFETIME: Final = 30.0
"""Seconds a fleet message is taken after it was sent (by the sender's wall clock; the
processes' clocks must agree to well within it): an older one, or one already taken in that
time, is a replay and is dropped."""


class _Waited:
    """What [`Fleet.lead_or_wait()`][polysource.engine.fleet.Fleet.lead_or_wait] returns when it
    waited and no answer came."""

    def __repr__(self) -> str:
        return "WAITED"


WAITED: Final = _Waited()

MAX_UNSENT: Final = 256
"""Invalidations kept while the fleet is detached before they are widened to whole datasets."""

_BREAKER: Final = "b"
_DONE: Final = "d"
_INVALIDATE: Final = "i"


@frozen
class FleetContext:
    """What a fleet backend factory receives besides its URL.

    Attributes:
        clock: The orchestrator's clock.
        timeout: Seconds any one operation may take (the backend's socket timeouts).
    """

    clock: Clock
    timeout: float = 0.25


@runtime_checkable
class FleetBackend(Protocol):
    """Shared coordination state, claimed by URL scheme through ``register_fleet_backends``.

    ``register(("redis", "rediss"), factory)`` where ``factory(url, context)`` returns the
    backend. Names are strings built by the engine; the backend namespaces them. Every method
    may raise: the engine bounds it with ``context.timeout`` and goes process-local.
    """

    name: str

    async def listen(self, deliver: Callable[[bytes], None], ready: Callable[[], None]) -> None:
        """Receive the fleet's messages: call ``ready()`` once subscribed, then ``deliver``
        with each message, until cancelled. Raise when the connection is lost or silent."""
        ...

    async def publish(self, message: bytes) -> None:
        """Send ``message`` to every listening process (this one included)."""
        ...

    async def incr(self, name: str, ttl: float) -> int:
        """Add one to the counter ``name``, let it expire ``ttl`` seconds from now; the count."""
        ...

    async def delete(self, names: Iterable[str]) -> None:
        """Remove counters or leases."""
        ...

    async def ttl(self, name: str) -> float:
        """Seconds the counter or lease ``name`` has left (0 when it does not exist)."""
        ...

    async def claim(self, name: str, token: str, ttl: float) -> float:
        """Take the lease ``name`` for ``ttl`` seconds if nobody else holds it.

        Returns 0 when taken (or held by ``token`` already), else the seconds the holder's
        lease has left.
        """
        ...

    async def release(self, name: str, token: str, message: bytes | None) -> None:
        """Drop the lease ``name`` if ``token`` still holds it and publish ``message`` (if
        any), in one round trip."""
        ...

    async def claim_many(self, names: list[str], token: str, ttl: float) -> list[float]:
        """`claim()` for each of ``names`` in one round trip (a ``fetch_many`` batch)."""
        ...

    async def release_many(self, names: list[str], token: str, messages: list[bytes]) -> None:
        """`release()` for each of ``names``, publishing ``messages[i]`` for each, in one
        round trip."""
        ...

    async def renew_many(self, names: list[str], token: str, ttl: float) -> list[bool]:
        """Extend to ``ttl`` seconds each lease of ``names`` that ``token`` still holds, in one
        round trip; for each, whether it did. A lease that expired or another process took
        is left alone."""
        ...

    def rate_limit_storage(self) -> tuple[str, str] | None:
        """A ``limits`` async storage URI reaching the same servers and a key prefix for it
        (for fleet-wide rate limits and cost budgets), or ``None``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def _message(kind: str, origin: str, fields: dict[str, Any], payload: bytes = b"") -> bytes:
    return orjson.dumps({"o": origin, "t": kind, **fields}) + b"\n" + payload


class Fleet(Guard):
    """The engine's side of fleet coordination (see the module docstring).

    Args:
        backend: The fleet backend.
        clock: For timeouts, cool-downs and the listener's reconnect delay.
        emitter: For ``fleet`` events.
        tasks: Owner of the listener and of background publishes.
        keyring: Signs and verifies the fleet's messages (from the deployment secret every
            process of the fleet shares).
        timeout: Seconds any one backend operation may take.
        cooldown: Seconds the fleet stays detached after a failure.
        lease: Seconds a single-flight lease lasts at most (a holder that dies blocks the
            others no longer than this). A call that may run longer (its deadline is further
            away) renews its lease every half lease until it ends.
        failure_window: Seconds a fleet-wide failure count lives after its last increment.
        breakers: Share breaker state.
        single_flight: Share single-flight leases.
    """

    def __init__(
        self,
        backend: FleetBackend,
        clock: Clock,
        emitter: Emitter,
        tasks: TaskSet,
        *,
        keyring: Keyring,
        timeout: float = 0.25,
        cooldown: float = 5.0,
        lease: float = 10.0,
        failure_window: float = 60.0,
        breakers: bool = True,
        single_flight: bool = True,
        on_invalidate: Callable[[Mapping[str, Any]], None] | None = None,
        on_rejoin: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(backend.name, clock, emitter, timeout=timeout, cooldown=cooldown)
        self.backend = backend
        self.tasks = tasks
        self.keyring = keyring
        self.lease = lease
        self.failure_window = failure_window
        self.share_breakers = breakers
        self.single_flight = single_flight
        self.origin = uuid.uuid4().hex[:16]
        """This process's id in messages and lease tokens."""
        self.listening = False
        self.slots: dict[str, ProviderSlot] = {}
        self.on_invalidate = on_invalidate
        """Drops the memory-tier entries an invalidation from another process names."""
        self.on_rejoin = on_rejoin
        """Called when the listener subscribes again after it was lost: the messages sent
        meanwhile (invalidations) never arrived, so the engine drops its memory tier."""
        self._unsent: list[dict[str, Any]] = []
        """Invalidations made while detached, published when the fleet is back."""
        self._subscribed = False
        self._waiters: dict[str, list[asyncio.Future[bytes | None]]] = {}
        self._remote: str | None = None
        self._listener: asyncio.Task[None] | None = None
        self._renewals: dict[str, asyncio.Task[None]] = {}
        """Lease token to the task renewing its leases (calls that may outlast a lease)."""
        self.pending = 0
        """Background operations (publishes, releases, deletes) not finished yet."""
        self.waiting = 0
        """Requests waiting now for another process's answer."""
        self.leads = 0
        self.joins = 0
        self.renewals = 0
        self.wait_timeouts = 0
        self.remote_changes = 0
        self.invalidations = 0
        self.rejected = 0
        """Messages dropped because their signature was missing or wrong, or they were
        replayed."""
        self._taken: dict[bytes, float] = {}
        """Signatures of the messages taken in the last
        [`MESSAGE_LIFETIME`][polysource.engine.fleet.MESSAGE_LIFETIME] seconds, with
        the wall time each stops counting, oldest first."""

    # -- life cycle -----------------------------------------------------------------------

    def start(self, slots: dict[str, ProviderSlot]) -> None:
        """Follow the providers' breakers (built with this fleet) and start listening."""
        self.slots = slots
        self._listener = self.tasks.spawn(self._listen(), name="polysource-fleet-listener")

    async def close(self) -> None:
        """Stop listening and close the backend."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        with contextlib.suppress(Exception):  # closing a dead backend must not fail shutdown
            await self.backend.close()

    def stats(self) -> dict[str, int]:
        """Counters for ``orch.stats().fleet``."""
        return {
            "attached": int(self.attached()),
            "failures": self.failures,
            "invalidations": self.invalidations,
            "joins": self.joins,
            "leads": self.leads,
            "lease_renewals": self.renewals,
            "rejected_messages": self.rejected,
            "remote_breaker_changes": self.remote_changes,
            "wait_timeouts": self.wait_timeouts,
        }

    async def _listen(self) -> None:
        while True:
            try:
                await self.backend.listen(self._deliver, self._ready)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the listener must outlive any failure
                self.fail(exc)
            self.listening = False
            await self.clock.sleep(self.cooldown)

    def _ready(self) -> None:
        self.listening = True
        if self._subscribed and self.on_rejoin is not None:
            self.on_rejoin()
        self._subscribed = True
        if self.emitter.wants[EventKind.FLEET]:
            self.emitter.emit(EventKind.FLEET, detail={"fleet": self.name, "state": "listening"})
        if self.share_breakers and self.slots:
            self._background(self._reconcile())

    async def _reconcile(self) -> None:
        """Open the breakers the fleet has open (opened while this process was not listening:
        before it started, or while the fleet was detached), for the time they have left."""
        for slot in list(self.slots.values()):
            left = await self.run(self.backend.ttl(f"breaker:{slot.name}:open"))
            if isinstance(left, Failed):
                return
            if left > 0 and slot.breaker.is_closed:
                self._remote = slot.name
                try:
                    slot.breaker.trip(left)
                finally:
                    self._remote = None

    def _background(self, operation: Awaitable[Any]) -> None:
        self.pending += 1
        self.tasks.spawn(self.run(operation)).add_done_callback(self._background_done)

    def _background_done(self, _task: asyncio.Task[Any]) -> None:
        self.pending -= 1

    def publish(self, kind: str, fields: dict[str, Any], payload: bytes = b"") -> None:
        """Publish a message in the background (dropped while detached)."""
        if self.attached():
            self._background(self.backend.publish(self._signed(kind, fields, payload)))

    def _signed(self, kind: str, fields: dict[str, Any], payload: bytes = b"") -> bytes:
        """A message from this process, signed."""
        sent = {**fields, "w": self.clock.time()}
        return self.keyring.sign(_message(kind, self.origin, sent, payload))

    # -- messages -------------------------------------------------------------------------

    def _deliver(self, message: bytes) -> None:
        body = self.keyring.verify(message)
        if body is None:
            self._reject()
            return
        header, _, payload = body.partition(b"\n")
        try:
            fields = orjson.loads(header)
            if not self._fresh(message[: len(message) - len(body)], fields.get("w")):
                self._reject("replayed")
                return
            kind = fields.get("t")
            if kind == _DONE:  # this process's own too: a flight it joined through the fleet
                self._done(str(fields["k"]), payload if fields.get("ok") else None)
            elif fields.get("o") == self.origin:
                return
            elif kind == _BREAKER:
                self._breaker_message(str(fields["p"]), str(fields["s"]))
            elif kind == _INVALIDATE and self.on_invalidate is not None:
                self.invalidations += 1
                self.on_invalidate(fields)
        except Exception:  # noqa: BLE001, S110 - a malformed message is ignored, never fatal
            pass

    def _fresh(self, signature: bytes, sent: object) -> bool:
        """Whether a signed message sent at wall time ``sent`` is taken: sent less than
        [`MESSAGE_LIFETIME`][polysource.engine.fleet.MESSAGE_LIFETIME] seconds ago and not taken
        before (then it is remembered)."""
        now = self.clock.time()
        taken = self._taken
        while taken:
            oldest = next(iter(taken))
            if taken[oldest] > now:
                break
            del taken[oldest]
        if (
            not isinstance(sent, (int, float))
            or isinstance(sent, bool)
            or not abs(now - sent) < MESSAGE_LIFETIME  # NaN is not fresh either
            or signature in taken
        ):
            return False
        taken[signature] = now + MESSAGE_LIFETIME
        return True

    def _reject(self, reason: str = "signature") -> None:
        """A message without a valid signature, or a replayed one, arrived: dropped, counted,
        reported."""
        self.rejected += 1
        if self.emitter.wants[EventKind.FLEET]:
            self.emitter.emit(
                EventKind.FLEET,
                detail={"fleet": self.name, "state": "rejected", "reason": reason},
            )

    # -- breakers -------------------------------------------------------------------------

    def breaker_changed(self, slot: ProviderSlot, new: BreakerState) -> None:
        """A local breaker changed state: tell the fleet (unless the fleet told us)."""
        if not self.share_breakers or self._remote == slot.name:
            return
        if new is BreakerState.HALF_OPEN:
            return  # each process half-opens on its own timer; one takes the trial
        names = [f"breaker:{slot.name}:trial"]
        opened = f"breaker:{slot.name}:open"  # lets a process that starts later follow
        if new is BreakerState.CLOSED:
            names += [f"breaker:{slot.name}:failures", opened]
        elif self.attached():
            recovery = slot.breaker.config.recovery_timeout
            self._background(self.backend.claim(opened, self.origin, recovery))
        if self.attached():
            self._background(self.backend.delete(names))
        self.publish(_BREAKER, {"p": slot.name, "s": new.value})

    def _breaker_message(self, provider: str, state: str) -> None:
        slot = self.slots.get(provider)
        if slot is None or not self.share_breakers:
            return
        self.remote_changes += 1
        self._remote = provider
        try:
            if state == BreakerState.OPEN.value:
                slot.breaker.trip()
            elif state == BreakerState.CLOSED.value:
                slot.breaker.reset()
        finally:
            self._remote = None

    async def count_failure(self, slot: ProviderSlot) -> None:
        """A failure that counts against ``slot``'s breaker: count it fleet-wide, and open the
        breaker when the fleet's count reaches the threshold."""
        breaker = slot.breaker
        if not self.share_breakers or not breaker.is_closed or not self.attached():
            return
        count = await self.run(
            self.backend.incr(f"breaker:{slot.name}:failures", self.failure_window)
        )
        if not isinstance(count, Failed) and count >= breaker.config.failure_threshold:
            breaker.trip()

    def clear_failures(self, slot: ProviderSlot) -> None:
        """A success after failures: the fleet's count starts again (in the background)."""
        if self.share_breakers and self.attached():
            self._background(self.backend.delete([f"breaker:{slot.name}:failures"]))

    async def claim_trial(self, slot: ProviderSlot) -> bool:
        """Whether this process runs the half-open trial (always, while detached)."""
        if not self.share_breakers or not self.attached():
            return True
        left = await self.run(
            self.backend.claim(
                f"breaker:{slot.name}:trial", self.origin, slot.breaker.config.recovery_timeout
            )
        )
        return isinstance(left, Failed) or left <= 0

    def release_trial(self, slot: ProviderSlot) -> None:
        """A half-open trial this process took ended without a verdict (not found, skipped,
        cancelled): give the fleet's trial back so that some process can run one."""
        if self.share_breakers and self.attached():
            self._background(self.backend.release(f"breaker:{slot.name}:trial", self.origin, None))

    # -- single-flight --------------------------------------------------------------------

    async def lead_or_wait(self, key: str, deadline: float) -> str | bytes | _Waited | None:
        """Take the lease on ``key`` or wait for the holder's answer.

        Returns:
            A lease token (this process calls the providers, then `finish()`), the
            holder's encoded record, [`WAITED`][polysource.engine.fleet.WAITED] (the wait ended, or
            the holder failed,
            with no answer: the holder's cache write may still be there), or ``None`` (call
            the providers without a lease: the fleet is unreachable or no one listens).
        """
        if not self.single_flight or not self.attached():
            return None
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault(key, [])
        waiting.append(future)
        try:
            token = self._token()
            left = await self.run(self.backend.claim(f"flight:{key}", token, self.lease))
            if isinstance(left, Failed):
                return None
            if left <= 0:
                self.leads += 1
                self._keep([f"flight:{key}"], token, deadline)
                return token
            # Wait for the holder at most until its lease ends, and never more than half of
            # the time left: the other half is for calling the providers ourselves.
            wait = min(left, (deadline - self.clock.monotonic()) / 2)
            if not self.listening or wait <= 0:
                return None
            if self.emitter.wants[EventKind.FLEET]:
                self.emitter.emit(EventKind.FLEET, detail={"fleet": self.name, "state": "waiting"})
            self.waiting += 1
            try:
                async with self.clock.timeout(wait):
                    record = await future
            except TimeoutError:
                self.wait_timeouts += 1
                return WAITED
            finally:
                self.waiting -= 1
            if record is None:
                return WAITED
            self.joins += 1
            return record
        finally:
            waiting.remove(future)
            if not waiting:
                del self._waiters[key]

    async def lead_many(self, keys: list[str], deadline: float) -> BatchLease:
        """`lead_or_wait()` for the keys of a ``fetch_many`` batch: lease the free ones in
        one round trip. The caller fetches the leased keys while it waits for the others'
        holders ([`BatchLease.answers()`][polysource.engine.fleet.BatchLease.answers]), then calls
        `finish_many()` and
        [`BatchLease.close()`][polysource.engine.fleet.BatchLease.close]."""
        lease = BatchLease(self, keys)
        if not self.single_flight or not self.attached() or not keys:
            lease.unleased = list(keys)
            return lease
        loop = asyncio.get_running_loop()
        for key in keys:
            future: asyncio.Future[bytes | None] = loop.create_future()
            lease.futures[key] = future
            self._waiters.setdefault(key, []).append(future)
        token = lease.token = self._token()
        lefts = await self.run(
            self.backend.claim_many([f"flight:{k}" for k in keys], token, self.lease)
        )
        if isinstance(lefts, Failed):
            lease.token = None
            lease.unleased = list(keys)
            return lease
        for key, left in zip(keys, lefts, strict=True):
            if left <= 0:
                lease.leased.append(key)
            else:
                lease.held[key] = left
        self.leads += len(lease.leased)
        if lease.leased:
            self._keep([f"flight:{k}" for k in lease.leased], token, deadline)
        return lease

    def _keep(self, names: list[str], token: str, deadline: float) -> None:
        """Renew the leases ``names`` while their call runs, if it may outlast them."""
        if deadline - self.clock.monotonic() > self.lease:
            self._renewals[token] = self.tasks.spawn(self._renew(names, token, deadline))

    async def _renew(self, names: list[str], token: str, deadline: float) -> None:
        """Every half lease until ``deadline``, extend the leases ``token`` still holds."""
        while names:
            await self.clock.sleep(self.lease / 2)
            if self.clock.monotonic() >= deadline:
                return
            if not self.attached():
                continue
            renewed = await self.run(self.backend.renew_many(names, token, self.lease))
            if isinstance(renewed, Failed):
                continue
            self.renewals += 1
            names = [name for name, kept in zip(names, renewed, strict=True) if kept]

    def _stop_renewing(self, token: str) -> None:
        task = self._renewals.pop(token, None)
        if task is not None:
            task.cancel()

    def finish_many(self, token: str, records: dict[str, bytes | None]) -> None:
        """Release the leases on ``records``' keys and publish each answer (``None``: the
        call for that key failed), in one round trip."""
        self._stop_renewing(token)
        for key, record in records.items():
            self._done(key, record)
        if not records or not self.attached():
            return
        names = [f"flight:{key}" for key in records]
        messages = [self._answer(key, record) for key, record in records.items()]
        self._background(self.backend.release_many(names, token, messages))

    def finish(self, key: str, token: str, record: bytes | None) -> None:
        """Release the lease on ``key`` and publish the answer (``None``: the call failed)."""
        self._stop_renewing(token)
        self._done(key, record)
        if self.attached():
            message = self._answer(key, record)
            self._background(self.backend.release(f"flight:{key}", token, message))

    def _token(self) -> str:
        """A new lease token: this process's id and a random part."""
        return f"{self.origin}:{uuid.uuid4().hex[:8]}"

    def _answer(self, key: str, record: bytes | None) -> bytes:
        """The message publishing the answer for ``key`` (``None``: the call failed)."""
        return self._signed(_DONE, {"k": key, "ok": int(record is not None)}, record or b"")

    def _done(self, key: str, record: bytes | None) -> None:
        for future in self._waiters.get(key, ()):
            if not future.done():
                future.set_result(record)

    # -- invalidation ---------------------------------------------------------------------

    def invalidate(self, fields: dict[str, Any]) -> None:
        """Tell every other process to drop memory-tier entries (see ``on_invalidate``).

        While the fleet is detached the message is kept (past ``MAX_UNSENT``, widened to whole
        datasets) and published when the fleet is back.
        """
        if not self.attached():
            self._unsent.append(fields)
            if len(self._unsent) > MAX_UNSENT:
                names = sorted({str(kept["d"]) for kept in self._unsent})
                self._unsent = [{"d": name} for name in names]
            return
        self.publish(_INVALIDATE, fields)

    def _reattached(self) -> None:
        unsent, self._unsent = self._unsent, []
        for fields in unsent:
            self.publish(_INVALIDATE, fields)


class BatchLease:
    """The fleet's single-flight leases of one ``fetch_many`` batch (see
    [`Fleet.lead_many()`][polysource.engine.fleet.Fleet.lead_many]).

    Attributes:
        token: The lease token, when any key was leased.
        leased: Keys this process fetches under the lease.
        held: Keys other processes hold, with the seconds their leases have left.
        unleased: Keys fetched without a lease (the fleet is away).
    """

    def __init__(self, fleet: Fleet, keys: list[str]) -> None:
        self.fleet = fleet
        self.token: str | None = None
        self.leased: list[str] = []
        self.held: dict[str, float] = {}
        self.unleased: list[str] = []
        self.futures: dict[str, asyncio.Future[bytes | None]] = {}

    async def answers(self, deadline: float) -> dict[str, bytes]:
        """The holders' encoded records of the held keys that arrive in time (at most the
        leases' time left, and half of the time to ``deadline``)."""
        fleet = self.fleet
        if not self.held:
            return {}
        wait = min(*self.held.values(), (deadline - fleet.clock.monotonic()) / 2)
        pending = [self.futures[key] for key in self.held]
        if fleet.listening and wait > 0:
            fleet.waiting += 1
            try:
                with contextlib.suppress(TimeoutError):
                    async with fleet.clock.timeout(wait):
                        await asyncio.wait(pending)
            finally:
                fleet.waiting -= 1
        found: dict[str, bytes] = {}
        for key in self.held:
            future = self.futures[key]
            if not future.done():
                fleet.wait_timeouts += 1
            elif (record := future.result()) is not None:
                found[key] = record
        fleet.joins += len(found)
        return found

    def close(self) -> None:
        """Stop listening for the held keys' answers (and renewing the leased keys')."""
        if self.token is not None:
            self.fleet._stop_renewing(self.token)
        waiters = self.fleet._waiters
        for key, future in self.futures.items():
            waiting = waiters.get(key)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del waiters[key]
        self.futures.clear()
