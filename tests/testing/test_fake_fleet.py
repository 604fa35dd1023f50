"""The fake fleet backend keeps the Redis backend's semantics: leases, counters, the channel."""

from __future__ import annotations

import asyncio

import pytest

from polysource.engine.fleet import FleetBackend, FleetContext
from polysource.testing import FakeClock, FakeFleetBackend, FakeFleetBackends, FakeFleetServer


@pytest.fixture
def server(clock: FakeClock) -> FakeFleetServer:
    return FakeFleetServer("f", clock)


def connect(server: FakeFleetServer) -> FakeFleetBackend:
    return FakeFleetBackend(server)


class Listener:
    """A running ``listen`` of one backend, collecting what it hears."""

    def __init__(self, backend: FakeFleetBackend) -> None:
        self.heard: list[bytes] = []
        self.ready = 0
        self.task = asyncio.create_task(backend.listen(self.heard.append, self._ready))

    def _ready(self) -> None:
        self.ready += 1

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def test_the_backend_implements_the_fleet_backend_protocol(server):
    """``FakeFleetBackend`` is a ``FleetBackend``."""
    assert isinstance(connect(server), FleetBackend)


async def test_a_lease_is_held_until_it_expires_on_the_servers_clock(server, clock):
    """A taken lease answers the others with its time left, and is free once that has passed."""
    one, two = connect(server), connect(server)
    assert await one.claim("lease", "t1", 2.0) == 0
    await clock.advance(0.5)
    assert await two.claim("lease", "t2", 2.0) == 1.5
    assert await two.ttl("lease") == 1.5
    await clock.advance(1.5)
    assert await two.ttl("lease") == 0
    assert await two.claim("lease", "t2", 2.0) == 0
    assert server.get("lease") == "t2"


async def test_claim_grants_its_holder_again_but_claim_many_does_not(server):
    """As in the Redis scripts: ``claim`` by the holder's token is 0 (the expiry unchanged);
    ``claim_many`` counts any held lease as held."""
    backend = connect(server)
    assert await backend.claim("a", "t", 10.0) == 0
    assert await backend.claim("a", "t", 60.0) == 0
    assert server.ttl("a") == 10.0
    assert await backend.claim_many(["a", "b"], "t", 10.0) == [10.0, 0]


async def test_only_the_holder_releases_or_renews_a_lease(server, clock):
    """A release or renewal by another token leaves the lease alone; a release publishes its
    message either way."""
    backend = connect(server)
    listener = Listener(connect(server))
    await clock.settle()
    await backend.claim("a", "holder", 2.0)
    await backend.release("a", "other", b"answer")
    assert await backend.renew_many(["a"], "other", 10.0) == [False]
    assert server.get("a") == "holder" and server.ttl("a") == 2.0
    await clock.advance(1.0)
    assert await backend.renew_many(["a"], "holder", 10.0) == [True]
    assert server.ttl("a") == 10.0
    await backend.release_many(["a"], "holder", [b"done"])
    await clock.settle()
    assert server.get("a") is None
    assert listener.heard == [b"answer", b"done"]
    await listener.stop()


async def test_a_counter_counts_and_expires_after_its_last_increment(server, clock):
    """Each ``incr`` adds one and sets the expiry again; a counter that expired starts at 1."""
    backend = connect(server)
    assert await backend.incr("failures", 10.0) == 1
    await clock.advance(8.0)
    assert await backend.incr("failures", 10.0) == 2
    await clock.advance(8.0)
    assert await backend.incr("failures", 10.0) == 3
    await clock.advance(10.0)
    assert await backend.incr("failures", 10.0) == 1
    await backend.delete(["failures"])
    assert server.names() == []


async def test_messages_reach_every_listener_in_order_the_publishers_too(server, clock):
    """A message reaches each listener subscribed when it is sent, in order, via the loop."""
    one, two = connect(server), connect(server)
    first, second = Listener(one), Listener(two)
    await clock.settle()
    assert (first.ready, second.ready, server.listeners) == (1, 1, 2)
    await one.publish(b"m1")
    assert first.heard == []  # delivered through the event loop, not inside publish
    await two.publish(b"m2")
    await clock.settle()
    assert first.heard == second.heard == [b"m1", b"m2"]
    await first.stop()
    await one.publish(b"m3")
    await clock.settle()
    assert second.heard == [b"m1", b"m2", b"m3"] and first.heard == [b"m1", b"m2"]
    assert server.published == [b"m1", b"m2", b"m3"]
    await second.stop()


async def test_a_failing_backend_raises_and_cuts_its_listener(server, clock):
    """``failing`` makes each call raise ``ConnectionError`` and ends the listener with it;
    the other processes are untouched."""
    one, two = connect(server), connect(server)
    listener = Listener(one)
    await clock.settle()
    one.failing = True
    await clock.settle()
    with pytest.raises(ConnectionError):
        await listener.task
    with pytest.raises(ConnectionError):
        await one.claim("a", "t", 1.0)
    assert await two.claim("a", "t", 1.0) == 0
    server.failing = True
    with pytest.raises(ConnectionError):
        await two.ttl("a")


async def test_a_hanging_server_holds_each_call_until_it_is_cleared(server, clock):
    """``hanging`` holds every call (the engine's timeout ends it); cleared, the calls go on."""
    backend = connect(server)
    server.hanging = True
    claim = asyncio.create_task(backend.claim("a", "t", 1.0))
    await clock.settle()
    assert not claim.done()
    server.hanging = False
    assert await claim == 0


async def test_dropping_and_disconnect_lose_messages(server, clock):
    """``dropping`` loses the messages to one listener; ``disconnect`` ends its listen."""
    one, two = connect(server), connect(server)
    first, second = Listener(one), Listener(two)
    await clock.settle()
    two.dropping = True
    await one.publish(b"m1")
    await clock.settle()
    assert (first.heard, second.heard) == ([b"m1"], [])
    two.disconnect()
    await clock.settle()
    with pytest.raises(ConnectionError):
        await second.task
    assert server.listeners == 1
    await first.stop()


async def test_the_plugin_shares_one_server_per_name(clock):
    """``fake://NAME`` URLs of one plugin share the server ``NAME``; each build is a new
    connection, and ``rate_limit_storage`` is what the plugin was given."""
    plugin = FakeFleetBackends(limits=("async+memory://", "fleet"))
    context = FleetContext(clock)
    a, b, c = (plugin._build(url, context) for url in ("fake://x", "fake://x", "fake://y"))
    assert a.server is b.server is plugin.servers["x"] and c.server is plugin.servers["y"]
    assert plugin.backends == [a, b, c] and a is not b
    assert a.rate_limit_storage() == ("async+memory://", "fleet")
    assert FakeFleetBackends()._build("fake://z", context).rate_limit_storage() is None
