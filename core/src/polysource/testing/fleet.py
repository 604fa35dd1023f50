"""A fleet backend double: several orchestrators in one test behave as one fleet, no Redis.

[`FakeFleetBackends`][polysource.testing.fleet.FakeFleetBackends] is a plugin claiming
``fake://NAME`` fleet URLs. Every orchestrator
given the plugin and ``[fleet] url = "fake://NAME"`` gets a
[`FakeFleetBackend`][polysource.testing.fleet.FakeFleetBackend] of its own
(its connection, with its own listener and fault switches) to the one
[`FakeFleetServer`][polysource.testing.fleet.FakeFleetServer] named ``NAME`` (the shared state:
counters, leases and the channel).
The server keeps the Redis backend's semantics (``polysource_redis.fleet``'s scripts):

- counters and leases share one namespace; each expires on the server's clock (the clock of
  the first orchestrator that connected, normally the test's `FakeClock`);
- ``incr`` counts one more and sets the expiry again; a lease is taken when free or already
  held by the same token (``claim``, not ``claim_many``), released and renewed only by its
  holder; a release publishes its message even when the lease was no longer the holder's;
- a message published reaches every listener subscribed at that moment (the publisher's too),
  each in order, through the event loop: ``publish`` returns before any listener has it.

Fault switches, on the server for the whole fleet or on one backend for one process:
``failing`` (every call raises ``ConnectionError``, and the listener is cut), ``hanging`` (every
call waits until the switch is cleared, so the engine's timeout ends it; the listener stays
subscribed and hears nothing) and ``dropping`` (messages to the listener are lost).
[`FakeFleetBackend.disconnect()`][polysource.testing.fleet.FakeFleetBackend.disconnect] cuts one
listener once (what the Redis listener's heartbeat
does when a server goes silent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Final

from attrs import define

from polysource.clock import Clock
from polysource.engine.fleet import FleetContext
from polysource.hookspecs import hookimpl
from polysource.registry import FleetBackendRegistrar

__all__ = ["FakeFleetBackend", "FakeFleetBackends", "FakeFleetServer"]

_CUT: Final = b""
"""Put on a listener's queue to end its subscription (a published message is never empty)."""


@define
class _Entry:
    value: int | str
    expires: float


class _Switches:
    """The fault switches shared by the server and each backend."""

    def __init__(self) -> None:
        self._failing = False
        self._hanging = False
        self.dropping = False
        """Messages to the listener(s) are lost while set."""
        self._resumed = asyncio.Event()
        self._resumed.set()

    @property
    def failing(self) -> bool:
        """Every call raises ``ConnectionError``; setting it cuts the listener(s)."""
        return self._failing

    @failing.setter
    def failing(self, value: bool) -> None:
        self._failing = value
        if value:
            self._cut()

    @property
    def hanging(self) -> bool:
        """Every call waits until this is cleared; the listener(s) stay subscribed, silent."""
        return self._hanging

    @hanging.setter
    def hanging(self, value: bool) -> None:
        self._hanging = value
        if value:
            self._resumed.clear()
        else:
            self._resumed.set()

    def _cut(self) -> None:
        raise NotImplementedError


class FakeFleetServer(_Switches):
    """The state every [`FakeFleetBackend`][polysource.testing.fleet.FakeFleetBackend] of one name
    shares: what Redis holds.

    Its ``failing``, ``hanging`` and ``dropping`` switches act on the whole fleet (see the
    module docstring).

    Args:
        name: The server's name (``NAME`` in ``fake://NAME``).
        clock: The clock counters and leases expire on.
    """

    def __init__(self, name: str, clock: Clock) -> None:
        super().__init__()
        self.name = name
        self.clock = clock
        self.published: list[bytes] = []
        """Every message published, in order (dropped ones too)."""
        self._entries: dict[str, _Entry] = {}
        self._queues: list[tuple[FakeFleetBackend, asyncio.Queue[bytes]]] = []

    # -- what a test reads and writes, as ``redis-cli`` would ---------------------------------

    def get(self, name: str) -> int | str | None:
        """The counter's count or the lease's token, or ``None`` (absent or expired)."""
        entry = self._live(name)
        return None if entry is None else entry.value

    def ttl(self, name: str) -> float:
        """Seconds ``name`` has left (0 when it does not exist)."""
        entry = self._live(name)
        return 0.0 if entry is None else self._left(entry)

    def set(self, name: str, value: int | str, ttl: float) -> None:
        """Set ``name`` (a lease's token or a count) for ``ttl`` seconds, whoever holds it."""
        self._entries[name] = _Entry(value, self.clock.monotonic() + ttl)

    def expire(self, name: str, ttl: float) -> bool:
        """Let ``name`` expire ``ttl`` seconds from now; whether it exists."""
        entry = self._live(name)
        if entry is not None:
            entry.expires = self.clock.monotonic() + ttl
        return entry is not None

    def delete(self, name: str) -> None:
        """Remove ``name``."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        """The names that exist now, sorted."""
        return sorted(name for name in list(self._entries) if self._live(name) is not None)

    def publish(self, message: bytes) -> None:
        """Send ``message`` to every listener subscribed now (as a client that may publish on
        the channel would: a test uses it to send forged or malformed messages)."""
        self.published.append(message)
        if self.dropping or not message:
            return
        for backend, queue in self._queues:
            if not backend.dropping:
                queue.put_nowait(message)

    @property
    def listeners(self) -> int:
        """Listeners subscribed now."""
        return len(self._queues)

    # -- the operations, atomic like the Redis scripts ----------------------------------------

    def _live(self, name: str) -> _Entry | None:
        entry = self._entries.get(name)
        if entry is not None and self.clock.monotonic() >= entry.expires:
            del self._entries[name]
            return None
        return entry

    def _left(self, entry: _Entry) -> float:
        return round(entry.expires - self.clock.monotonic(), 3)  # Redis counts milliseconds

    def _incr(self, name: str, ttl: float) -> int:
        entry = self._live(name)
        count = (int(entry.value) if entry is not None else 0) + 1
        self.set(name, count, ttl)
        return count

    def _claim(self, name: str, token: str, ttl: float, *, again: bool) -> float:
        """Take the lease if free (or, with ``again``, held by ``token``): 0; else the
        holder's seconds left."""
        entry = self._live(name)
        if entry is None:
            self.set(name, token, ttl)
            return 0.0
        if again and entry.value == token:
            return 0.0
        return max(0.001, self._left(entry))

    def _release(self, name: str, token: str) -> None:
        entry = self._live(name)
        if entry is not None and entry.value == token:
            del self._entries[name]

    def _renew(self, name: str, token: str, ttl: float) -> bool:
        entry = self._live(name)
        if entry is None or entry.value != token:
            return False
        entry.expires = self.clock.monotonic() + ttl
        return True

    def _subscribe(self, backend: FakeFleetBackend) -> asyncio.Queue[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._queues.append((backend, queue))
        return queue

    def _unsubscribe(self, queue: asyncio.Queue[bytes]) -> None:
        self._queues = [pair for pair in self._queues if pair[1] is not queue]

    def _cut(self) -> None:
        for _, queue in self._queues:
            queue.put_nowait(_CUT)

    def _cut_backend(self, backend: FakeFleetBackend) -> None:
        for owner, queue in self._queues:
            if owner is backend:
                queue.put_nowait(_CUT)

    def __repr__(self) -> str:
        return f"FakeFleetServer({self.name!r})"


class FakeFleetBackend(_Switches):
    """One process's connection to a [`FakeFleetServer`][polysource.testing.fleet.FakeFleetServer]:
    a
    [`FleetBackend`][polysource.engine.fleet.FleetBackend] that counts its calls.

    Each call yields to the event loop once (a round trip), then acts on the server at once,
    as one Redis script does. ``failing``, ``hanging`` and ``dropping`` cut this process off
    alone (see the module docstring); ``rate_limit_storage`` is what the plugin was given.
    """

    def __init__(
        self,
        server: FakeFleetServer,
        context: FleetContext | None = None,
        *,
        limits: tuple[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.name = server.name
        self.server = server
        self.context = context
        self.calls: list[str] = []
        """The operations called, in order."""
        self.closed = False
        self._limits = limits

    def count(self, operation: str) -> int:
        """Calls of ``operation`` so far."""
        return self.calls.count(operation)

    def disconnect(self) -> None:
        """Cut this process's listener once (it raises ``ConnectionError``); what is published
        until it subscribes again is lost, as when a connection drops."""
        self.server._cut_backend(self)

    async def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        await asyncio.sleep(0)  # the round trip: other tasks run meanwhile
        while True:
            if self.failing or self.server.failing:
                raise ConnectionError(f"fleet {self.name} is down")
            if self.hanging:
                await self._resumed.wait()
            elif self.server.hanging:
                await self.server._resumed.wait()
            else:
                return

    def _cut(self) -> None:
        self.server._cut_backend(self)

    # -- the FleetBackend protocol ------------------------------------------------------------

    async def listen(self, deliver: Callable[[bytes], None], ready: Callable[[], None]) -> None:
        """Subscribe, call ``ready()``, then hand each message to ``deliver`` until cut."""
        await self._enter("listen")
        queue = self.server._subscribe(self)
        try:
            ready()
            while True:
                message = await queue.get()
                if message == _CUT:
                    raise ConnectionError(f"fleet {self.name}: the listener was cut")
                deliver(message)
        finally:
            self.server._unsubscribe(queue)

    async def publish(self, message: bytes) -> None:
        """Send ``message`` to every listener, this process's included."""
        await self._enter("publish")
        self.server.publish(message)

    async def incr(self, name: str, ttl: float) -> int:
        """Count one more on ``name`` (expiring ``ttl`` seconds from now); the new count."""
        await self._enter("incr")
        return self.server._incr(name, ttl)

    async def delete(self, names: Iterable[str]) -> None:
        """Remove counters or leases."""
        await self._enter("delete")
        for name in names:
            self.server._entries.pop(name, None)

    async def ttl(self, name: str) -> float:
        """Seconds ``name`` has left (0 when it does not exist)."""
        await self._enter("ttl")
        return self.server.ttl(name)

    async def claim(self, name: str, token: str, ttl: float) -> float:
        """Take the lease ``name``: 0 (taken, or held by ``token`` already), or the seconds
        its holder has left."""
        await self._enter("claim")
        return self.server._claim(name, token, ttl, again=True)

    async def release(self, name: str, token: str, message: bytes | None) -> None:
        """Drop the lease if ``token`` holds it, then publish ``message`` (if any)."""
        await self._enter("release")
        self.server._release(name, token)
        if message:
            self.server.publish(message)

    async def claim_many(self, names: list[str], token: str, ttl: float) -> list[float]:
        """Take each free lease of ``names``: for each, 0 (taken) or the seconds its holder
        has left (one held by ``token`` already counts as held, as in the Redis script)."""
        await self._enter("claim_many")
        return [self.server._claim(name, token, ttl, again=False) for name in names]

    async def release_many(self, names: list[str], token: str, messages: list[bytes]) -> None:
        """Drop the leases ``token`` holds and publish one message for each."""
        await self._enter("release_many")
        for name, message in zip(names, messages, strict=True):
            self.server._release(name, token)
            self.server.publish(message)

    async def renew_many(self, names: list[str], token: str, ttl: float) -> list[bool]:
        """Extend the leases ``token`` still holds; for each, whether it did."""
        await self._enter("renew_many")
        return [self.server._renew(name, token, ttl) for name in names]

    def rate_limit_storage(self) -> tuple[str, str] | None:
        """The ``limits`` storage the plugin was given (``None`` by default)."""
        return self._limits

    async def close(self) -> None:
        """Mark closed."""
        self.closed = True

    def __repr__(self) -> str:
        return f"FakeFleetBackend({self.name!r})"


class FakeFleetBackends:
    """A plugin claiming ``fake://NAME`` fleet URLs; ``servers[NAME]`` is the shared state and
    ``backends`` every connection made, in order (one per orchestrator).

    Give the same plugin object to each orchestrator of the test, with ``[fleet] url =
    "fake://NAME"`` and a ``[security] secret``.

    Args:
        limits: What the backends' ``rate_limit_storage()`` returns: a ``limits`` async
            storage URI and key prefix, or ``None`` (the default: an orchestrator whose
            providers have rate limits or budgets then needs ``rate_limit_storage`` or
            ``fleet.rate_limits = false``). Note that ``async+memory://`` makes a storage per
            orchestrator, not one shared by the fleet.
    """

    plugin_name = "polysource.testing.fake-fleet"

    def __init__(self, *, limits: tuple[str, str] | None = None) -> None:
        self.servers: dict[str, FakeFleetServer] = {}
        self.backends: list[FakeFleetBackend] = []
        self._limits = limits

    @hookimpl
    def register_fleet_backends(self, register: FleetBackendRegistrar) -> None:
        """Claim the ``fake`` scheme."""
        register(("fake",), self._build)

    def _build(self, url: str, context: FleetContext) -> Any:
        name = url.split("://", 1)[1] or "fake"
        server = self.servers.get(name)
        if server is None:
            server = self.servers[name] = FakeFleetServer(name, context.clock)
        backend = FakeFleetBackend(server, context, limits=self._limits)
        self.backends.append(backend)
        return backend
