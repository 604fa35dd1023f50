"""Events for every step, delivered without pluggy on the request path, never with secrets."""

from __future__ import annotations

import hashlib

import pytest

from polysource.config import Secret
from polysource.datasets import QUOTE, Accounts
from polysource.errors import AllProvidersFailed
from polysource.events import EventKind
from polysource.security import Keyring
from polysource.testing import FakeProvider

SECRET = "telemetry-test-deployment-secret-0123456789"


async def test_miss_attempt_success_write_then_hit(make_orchestrator, clock, events):
    """A miss then a hit emit the expected sequence of events."""
    orch = await make_orchestrator(FakeProvider("a", clock=clock))
    await orch.fetch(QUOTE, "AAPL", region="US")
    await orch.fetch(QUOTE, "AAPL", region="US", max_age=100)
    kinds = [kind for kind in events.kinds() if kind != "health"]
    assert kinds == ["cache_miss", "attempt", "success", "cache_write", "cache_hit"]
    assert [e.detail["to"] for e in events.of("health")] == ["healthy"]
    attempt = events.of("attempt")[0]
    assert (attempt.provider, attempt.dataset, attempt.key, attempt.attempt) == (
        "a",
        "quote",
        "AAPL",
        1,
    )


async def test_failure_retry_failover_and_request_failed(make_orchestrator, clock, events):
    """Failures, retries, failovers and the final failure are all reported."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "provider_down")
    b = FakeProvider("b", regions={"US": 2}, clock=clock).fail_always("*", "not_found")
    orch = await make_orchestrator(
        a, b, providers={n: {"timeout": 1, "retry": {"attempts": 2}} for n in ("a", "b")}
    )
    with pytest.raises(AllProvidersFailed):
        await clock.run(orch.fetch(QUOTE, "AAPL", region="US"))
    kinds = events.kinds()
    for kind in ("failure", "retry", "failover", "request_failed"):
        assert kind in kinds


async def test_no_event_built_when_no_sink_wants_it(make_orchestrator, clock):
    """With only a sink that wants breaker events, a fetch builds no event at all."""
    seen = []

    class BreakerOnly:
        plugin_name = "breaker-only"
        event_kinds = frozenset({EventKind.BREAKER})

        from polysource import hookimpl

        @hookimpl
        def on_event(self, event):
            seen.append(event)

    from polysource import Orchestrator, load_config

    config = load_config(environ={}, overrides={"telemetry": {"log": False}})
    async with Orchestrator(
        config, plugins=[FakeProvider("a"), BreakerOnly()], entry_points=False, environ={}
    ) as orch:
        await orch.fetch(QUOTE, "AAPL")
        assert not orch._emitter.wants[EventKind.CACHE_HIT]
        assert orch._emitter.wants[EventKind.BREAKER]
    assert seen == []


async def test_a_raising_sink_never_fails_a_request(make_orchestrator, clock):
    """A sink that raises is counted and ignored."""
    from polysource import hookimpl

    class Broken:
        plugin_name = "broken-sink"

        @hookimpl
        def on_event(self, event):
            raise RuntimeError("sink down")

    orch = await make_orchestrator(FakeProvider("a", clock=clock), Broken())
    assert (await orch.fetch(QUOTE, "AAPL")).source == "a"
    assert orch._emitter.sink_errors > 0


async def test_private_keys_and_tenants_are_redacted(make_orchestrator, clock, events):
    """Events about private datasets carry hashes, never the key or tenant id."""
    fake = FakeProvider("bank", datasets={"accounts"}, clock=clock)
    fake.answer("acct-key-123", Accounts(()))
    orch = await make_orchestrator(fake)
    from polysource.connections import Connection

    await orch.connections.save(Connection("tenant-alice", "bank", "link-1"))
    await orch.fetch("accounts", "acct-key-123", tenant="tenant-alice")
    text = repr([e.to_dict() for e in events.events])
    assert "acct-key-123" not in text and "tenant-alice" not in text
    assert events.of("attempt")[0].key.startswith("h:")


async def test_private_keys_are_keyed_pseudonyms_and_public_keys_shown_as_is(
    make_orchestrator, clock, events
):
    """With a secret, a private dataset's key is the keyring's keyed pseudonym; a public key is
    shown as it is."""
    fake = FakeProvider("bank", datasets={"accounts", "quote"}, clock=clock)
    fake.answer("acct-key-123", Accounts(()))
    orch = await make_orchestrator(fake, security={"secret": Secret.of(SECRET)})
    from polysource.connections import Connection

    await orch.connections.save(Connection("tenant-alice", "bank", "link-1"))
    await orch.fetch("accounts", "acct-key-123", tenant="tenant-alice")
    await orch.fetch(QUOTE, "AAPL", tenant="tenant-alice")
    private, public = events.of("attempt")
    unkeyed = "h:" + hashlib.blake2b(b"acct-key-123", digest_size=6).hexdigest()
    keyring = Keyring(SECRET)
    assert private.key == keyring.pseudonym("acct-key-123") != unkeyed
    assert public.key == "AAPL"


async def test_events_and_logs_never_contain_secrets(make_orchestrator, clock, events, capsys):
    """A provider configured with a secret: nothing emitted or logged contains it."""
    from polysource import Secret

    secret = "sk-live-0123456789abcdef"
    fake = FakeProvider("a", regions={"US": 1}, clock=clock).fail("AAPL", "auth")
    orch = await make_orchestrator(
        fake,
        FakeProvider("b", regions={"US": 2}, clock=clock),
        providers={"a": {"credentials": {"api_key": Secret.of(secret)}}},
        telemetry={"log_level": "debug"},
    )
    await orch.fetch(QUOTE, "AAPL", region="US")
    emitted = repr([e.to_dict() for e in events.events]) + repr(orch.health()) + repr(orch.stats())
    captured = capsys.readouterr()
    assert secret not in emitted + captured.out + captured.err
    assert "a" in orch.health()


def test_log_sink_levels():
    """A provider turning healthy logs at info; a failure at warning; hits only at debug."""
    from polysource._builtins import LogSink, _level_of
    from polysource.events import Event

    def event(kind, **detail):
        return Event(kind, 0.0, detail=detail)

    assert _level_of(event(EventKind.HEALTH, to="healthy")) == "info"
    assert _level_of(event(EventKind.HEALTH, to="down")) == "warning"
    assert _level_of(event(EventKind.FAILURE)) == "warning"
    assert _level_of(event(EventKind.CACHE_HIT)) == "debug"
    assert EventKind.CACHE_HIT not in LogSink("warning").event_kinds
    assert EventKind.CACHE_HIT in LogSink("debug").event_kinds
    # A tier or the fleet detaching is a warning; coming back is info; waiting on another
    # process is debug.
    assert _level_of(event(EventKind.TIER, state="detached")) == "warning"
    assert _level_of(event(EventKind.FLEET, state="detached")) == "warning"
    assert _level_of(event(EventKind.FLEET, state="attached")) == "info"
    assert _level_of(event(EventKind.TIER, state="attached")) == "info"
    assert _level_of(event(EventKind.FLEET, state="waiting")) == "debug"
    assert EventKind.FLEET in LogSink("warning").event_kinds
