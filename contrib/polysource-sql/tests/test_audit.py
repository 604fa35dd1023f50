"""The audit log: queued on the request path, written in batches, retained, queried, redacted."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import sqlite3
import statistics
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from polysource.config import load_config
from polysource.datasets import QUOTE
from polysource.errors import ConfigError
from polysource.events import Event, EventKind
from polysource.orchestrator import Orchestrator
from polysource.security import Keyring
from polysource.testing import FakeProvider
from polysource_sql import audit_plugin
from polysource_sql.audit import FAILOVER_WINDOW, AuditLog
from polysource_sql.errors import AuditReadError, AuditWriteError

DAY = 86400.0
PSEUDONYMS = Keyring("audit-test-deployment-secret-0123456789")
"""Stands in for the orchestrator's keyring: events carry private keys and tenants from it."""


def key_hash(key: str) -> str:
    """The short hash a row holds for a key that is not a pseudonym (a public key)."""
    return "h:" + hashlib.blake2b(key.encode(), digest_size=6).hexdigest()


class Lifecycle:
    """What ``startup`` and ``shutdown`` use of an orchestrator: its clock and ``spawn``."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.tasks: list[asyncio.Task[Any]] = []

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.append(task)
        return task


@pytest.fixture
async def lifecycle(clock) -> AsyncIterator[Lifecycle]:
    """A stand-in orchestrator whose tasks are cancelled after the test."""
    life = Lifecycle(clock)
    yield life
    for task in life.tasks:
        task.cancel()
    await asyncio.gather(*life.tasks, return_exceptions=True)


@pytest.fixture
async def make_audit(clock, database_url) -> AsyncIterator[Callable[..., AuditLog]]:
    """Factory of audit logs on ``database_url`` with the fake clock, closed afterwards."""
    made: list[AuditLog] = []

    def make(url: str | None = None, **kwargs: Any) -> AuditLog:
        kwargs.setdefault("clock", clock)
        audit = AuditLog(url or database_url, **kwargs)
        made.append(audit)
        return audit

    yield make
    for audit in made:
        await audit.close()


def _event(
    clock: Any,
    kind: EventKind = EventKind.SUCCESS,
    provider: str = "tiingo",
    *,
    key: str | None = "AAPL",
    dataset: str = "quote",
    ago: float = 0.0,
    **fields: Any,
) -> Event:
    return Event(kind, clock.time() - ago, dataset=dataset, key=key, provider=provider, **fields)


async def test_on_event_only_queues(make_audit, clock, statements, attempt_rows) -> None:
    """on_event is synchronous and sends nothing to the database; rows wait in the queue."""
    audit = make_audit()
    assert not inspect.iscoroutinefunction(audit.on_event)
    with statements(audit.engine) as seen:
        for i in range(10):
            audit.on_event(_event(clock, duration=0.1, attempt=1, key=f"K{i}"))
    assert seen.seen == []
    assert len(audit.queue) == 10 and audit.written == 0
    assert await audit.flush() == 10
    assert len(await attempt_rows(audit.engine)) == 10
    assert not audit.queue


async def test_rows_are_written_in_batches(make_audit, clock, statements, attempt_rows) -> None:
    """250 queued attempts are written as three multi-row INSERTs of at most 100 rows."""
    audit = make_audit(batch_size=100)
    for i in range(250):
        audit.on_event(_event(clock, duration=0.01 * i, attempt=1))
    await audit.flush()  # creates the tables first
    for i in range(250):
        audit.on_event(_event(clock, duration=0.01 * i, attempt=1))
    with statements(audit.engine) as seen:
        assert await audit.flush() == 250
    assert len(seen.starting("INSERT")) == 3
    assert audit.batches == 6 and audit.written == 500
    rows = await attempt_rows(audit.engine)
    assert len(rows) == 500
    assert rows[0]["provider"] == "tiingo" and rows[0]["outcome"] == "success"


async def test_writer_task_writes_off_the_request_path(
    make_audit, make_engine, clock, lifecycle, eventually, attempt_rows
) -> None:
    """A full batch is written at once, a partial one after the interval, the rest at shutdown."""
    audit = make_audit(batch_size=10, flush_interval=5.0)
    audit.startup(lifecycle)
    for _ in range(10):
        audit.on_event(_event(clock, duration=0.2, attempt=1))

    async def written(n: int) -> bool:
        return audit.written == n

    await eventually(lambda: written(10))
    for _ in range(3):
        audit.on_event(_event(clock, EventKind.FAILURE, category="timeout", attempt=1))
    await clock.advance(4.9)
    await asyncio.sleep(0.05)
    assert audit.written == 10 and len(audit.queue) == 3
    await clock.advance(0.1)
    await eventually(lambda: written(13))
    for _ in range(4):
        audit.on_event(_event(clock, duration=0.3, attempt=1))
    await audit.shutdown(lifecycle)
    assert audit.written == 17 and not audit.queue
    rows = await attempt_rows(make_engine())
    assert [r["outcome"] for r in rows] == ["success"] * 10 + ["failure"] * 3 + ["success"] * 4
    assert all(task.done() for task in lifecycle.tasks)


async def test_attempts_of_a_real_fetch_with_failover(
    make_engine, clock, attempt_rows, database_url
):
    """Through an orchestrator: the failed attempt, then the next provider's, marked failover."""
    a = FakeProvider("a", regions={"US": 1}, clock=clock).fail_always("*", "provider_down")
    b = FakeProvider("b", regions={"US": 2}, clock=clock, latency=0.25)
    audit = audit_plugin(database_url)
    config = load_config(environ={}, overrides={"providers": {"a": {"retry": {"attempts": 1}}}})
    orch = Orchestrator(config, plugins=[a, b, audit], clock=clock, entry_points=False, environ={})
    async with orch:
        assert audit.clock is clock
        result = await clock.run(orch.fetch(QUOTE, "AAPL", region="US"))
        assert result.source == "b"
    rows = await attempt_rows(make_engine())
    assert [(r["provider"], r["outcome"], r["category"], r["failover"]) for r in rows] == [
        ("a", "failure", "provider_down", False),
        ("b", "success", None, True),
    ]
    assert rows[1]["duration"] == pytest.approx(0.25)
    assert rows[1]["target"] == "quote" and rows[1]["key_hash"] == key_hash("AAPL")
    assert rows[1]["attempt"] == 1


async def test_a_private_key_is_stored_as_its_keyed_pseudonym(
    make_engine, clock, attempt_rows, database_url
):
    """Through an orchestrator with a secret: an account id's row holds the keyring's keyed
    pseudonym of it, not an unkeyed hash; a public key's row holds the hash of the key."""
    from polysource.config import Secret
    from polysource.connections import Connection
    from polysource.datasets import Accounts

    secret = "audit-test-deployment-secret-0123456789"
    bank = FakeProvider("bank", datasets={"accounts", "quote"}, clock=clock)
    bank.answer("acct-0042", Accounts(()))
    audit = audit_plugin(database_url)
    config = load_config(environ={}, overrides={"security": {"secret": Secret.of(secret)}})
    orch = Orchestrator(config, plugins=[bank, audit], clock=clock, entry_points=False, environ={})
    async with orch:
        await orch.connections.save(Connection("tenant-alice", "bank", "link-1"))
        await clock.run(orch.fetch("accounts", "acct-0042", tenant="tenant-alice"))
        await clock.run(orch.fetch(QUOTE, "AAPL"))
    rows = await attempt_rows(make_engine())
    pseudonym = Keyring(secret).pseudonym("acct-0042")
    assert [r["key_hash"] for r in rows] == [pseudonym, key_hash("AAPL")]
    assert key_hash(key_hash("acct-0042")) != rows[0]["key_hash"] != key_hash("acct-0042")


async def test_the_audit_section_of_the_config_turns_the_log_on(
    make_engine, clock, attempt_rows, database_url
):
    """``[audit] url`` alone: the installed SQL plugin builds the log, which sees attempts."""
    import polysource_sql

    provider = FakeProvider("a", clock=clock)
    config = load_config(
        environ={}, overrides={"audit": {"url": database_url, "retention_days": 7}}
    )
    orch = Orchestrator(
        config, plugins=[provider, polysource_sql], clock=clock, entry_points=False, environ={}
    )
    async with orch:
        audit = orch.audit
        assert isinstance(audit, AuditLog)
        assert audit.retention_days == 7 and audit.clock is clock
        await clock.run(orch.fetch(QUOTE, "AAPL"))
        await audit.flush()
        stats = await audit.stats()
        assert stats["a"].attempts == 1 and stats["a"].success_rate == 1.0
    rows = await attempt_rows(make_engine())
    assert [(r["provider"], r["outcome"]) for r in rows] == [("a", "success")]


def test_an_audit_url_no_plugin_serves_is_a_config_error(clock) -> None:
    import polysource_sql

    config = load_config(environ={}, overrides={"audit": {"url": "mongodb://db/audit"}})
    orch = Orchestrator(config, plugins=[polysource_sql], clock=clock, entry_points=False)
    with pytest.raises(ConfigError, match=r"no installed plugin serves audit logs at mongodb://"):
        orch.registry  # noqa: B018 - building it resolves the audit log


def test_an_invalid_audit_url_is_a_config_error_without_its_password(clock) -> None:
    import polysource_sql

    url = "postgresql://app:hunter2@db/app?schema=not-an-identifier"
    config = load_config(environ={}, overrides={"audit": {"url": url}})
    orch = Orchestrator(config, plugins=[polysource_sql], clock=clock, entry_points=False)
    with pytest.raises(ConfigError, match=r"audit log postgresql:// is invalid") as caught:
        orch.registry  # noqa: B018
    assert caught.value.path == "audit.url"
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        ({"url": "not a url"}, "is not a URL"),
        ({"url": "sqlite://", "retention_days": 0}, "must be > 0"),
    ],
)
def test_bad_audit_settings_are_refused_when_the_config_loads(audit, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ={}, overrides={"audit": audit})


async def test_failover_marks_only_the_next_providers_first_attempt(
    make_audit, clock, attempt_rows
) -> None:
    """A failover event flags the next attempt at another provider, within the window only."""
    audit = make_audit()
    account = PSEUDONYMS.pseudonym("acct-1")
    events = [
        _event(clock, EventKind.FAILURE, "a", attempt=1, category="timeout"),
        _event(clock, EventKind.FAILOVER, "a", category="timeout"),
        _event(clock, EventKind.SUCCESS, "b", attempt=1, duration=0.1),  # failover
        _event(clock, EventKind.SUCCESS, "b", attempt=1, duration=0.1),  # a later request
        _event(clock, EventKind.FAILOVER, "a", key="MSFT"),
        _event(clock, EventKind.SUCCESS, "a", key="MSFT", attempt=1),  # a new request at a
        _event(clock, EventKind.SUCCESS, "b", key="MSFT", attempt=1),
        _event(clock, EventKind.FAILOVER, "a", key="GOOG", ago=FAILOVER_WINDOW + 1),
        _event(clock, EventKind.SUCCESS, "b", key="GOOG", attempt=1),  # too late to relate
        _event(clock, EventKind.FAILOVER, "a", dataset="accounts", key=account),
        _event(clock, EventKind.SUCCESS, "b", dataset="accounts", key=account),
    ]
    for event in events:
        audit.on_event(event)
    await audit.flush()
    rows = await attempt_rows(audit.engine)
    assert [r["failover"] for r in rows] == [False, True, False, False, False, False, True]
    assert not audit._failovers


async def test_retention_deletes_rows_older_than_the_setting(
    make_audit, clock, attempt_rows
) -> None:
    """Each write deletes rows older than retention_days; None keeps everything."""
    audit = make_audit(retention_days=1)
    audit.on_event(_event(clock, key="OLD", ago=2 * DAY))
    audit.on_event(_event(clock, key="NEW", ago=DAY - 60))
    await audit.flush()
    assert [r["key_hash"] for r in await attempt_rows(audit.engine)] == [key_hash("NEW")]
    await clock.advance(DAY)
    audit.on_event(_event(clock, key="NEWER"))
    await audit.flush()
    assert [r["key_hash"] for r in await attempt_rows(audit.engine)] == [key_hash("NEWER")]
    keeper = make_audit(retention_days=None)
    keeper.on_event(_event(clock, key="ANCIENT", ago=400 * DAY))
    await keeper.flush()
    assert len(await attempt_rows(keeper.engine)) == 2


async def test_stats_per_provider(make_audit, clock) -> None:
    """attempts, success rate, failovers, mean and median latency of successes, in the window."""
    audit = make_audit(retention_days=None)
    tiingo = [0.12, 0.40, 0.10, 0.31, 0.25, 0.90]
    yahoo = [1.5, 0.5, 3.0]
    for i, duration in enumerate(tiingo):
        audit.on_event(_event(clock, provider="tiingo", duration=duration, attempt=1, ago=i * 60))
    audit.on_event(_event(clock, EventKind.FAILURE, "tiingo", duration=5.0, category="timeout"))
    audit.on_event(_event(clock, provider="tiingo", duration=99.0, ago=DAY + 1))  # too old
    audit.on_event(_event(clock, EventKind.FAILOVER, "tiingo", key="MSFT"))
    for duration in yahoo:
        audit.on_event(_event(clock, provider="yahoo", key="MSFT", duration=duration, attempt=1))
    for _ in range(2):
        audit.on_event(_event(clock, EventKind.FAILURE, "yahoo", duration=0.1, category="auth"))
    audit.on_event(_event(clock, EventKind.FAILURE, "mx", category="network"))
    await audit.flush()

    stats = await audit.stats()
    assert list(stats) == ["mx", "tiingo", "yahoo"]
    t, y, m = stats["tiingo"], stats["yahoo"], stats["mx"]
    assert (t.attempts, t.successes, t.failures, t.failovers) == (7, 6, 1, 0)
    assert t.success_rate == pytest.approx(6 / 7)
    assert t.mean_latency == pytest.approx(statistics.mean(tiingo))
    assert t.p50_latency == pytest.approx(statistics.median(tiingo))
    assert (y.attempts, y.successes, y.failures, y.failovers) == (5, 3, 2, 1)
    assert y.success_rate == pytest.approx(0.6)
    assert y.mean_latency == pytest.approx(statistics.mean(yahoo))
    assert y.p50_latency == pytest.approx(statistics.median(yahoo))
    assert (m.attempts, m.success_rate, m.mean_latency, m.p50_latency) == (1, 0.0, None, None)

    recent = await audit.stats(since_seconds=150)  # tiingo's successes 0, 60 and 120 s ago
    assert recent["tiingo"].p50_latency == pytest.approx(statistics.median(tiingo[:3]))
    assert (await audit.stats(since_seconds=2 * DAY))["tiingo"].attempts == 8


async def test_no_raw_key_tenant_or_secret_is_stored(
    make_audit, clock, attempt_rows, database_url
) -> None:
    """Rows hold hashes of keys and tenants and never an event's detail, even if given raw."""
    account, tenant, token = "acct-0042-7781-secret", "tenant-alice-raw", "access-sandbox-9f8e7d"
    audit = make_audit()
    private = _event(
        clock,
        dataset="accounts",
        key=PSEUDONYMS.pseudonym(account),
        tenant=PSEUDONYMS.pseudonym(tenant),
        attempt=1,
    )
    careless = _event(
        clock,
        EventKind.FAILURE,
        dataset="accounts",
        key=account,
        tenant=tenant,
        category="auth",
        detail={"access_token": token, "account": account},
    )
    audit.on_event(private)
    audit.on_event(careless)
    await audit.flush()
    rows = await attempt_rows(audit.engine)
    assert [r["key_hash"] for r in rows] == [PSEUDONYMS.pseudonym(account), key_hash(account)]
    assert [r["tenant_hash"] for r in rows] == [PSEUDONYMS.pseudonym(tenant), key_hash(tenant)]
    stored = repr(rows)
    for secret in (account, tenant, token):
        assert secret not in stored
    if database_url.startswith("sqlite"):
        await audit.close()
        path = Path(database_url.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):
            data = file.read_bytes()
            for secret in (account, tenant, token):
                assert secret.encode() not in data


async def test_a_full_queue_drops_the_oldest_rows(make_audit, clock, attempt_rows) -> None:
    """Beyond queue_size the oldest queued attempts are dropped and counted."""
    audit = make_audit(batch_size=5, queue_size=5)
    for i in range(8):
        audit.on_event(_event(clock, key=f"K{i}"))
    assert audit.dropped == 3
    await audit.flush()
    rows = await attempt_rows(audit.engine)
    assert [r["key_hash"] for r in rows] == [key_hash(f"K{i}") for i in range(3, 8)]


@pytest.fixture
async def sqlite_audit(clock, tmp_path) -> AsyncIterator[AuditLog]:
    """An audit log on a SQLite file of the test's own, with short timeouts, closed afterwards."""
    audit = AuditLog(
        f"sqlite:///{tmp_path / 'audit.db'}",
        clock=clock,
        timeout=0.2,
        batch_size=2,
        flush_interval=1.0,
    )
    yield audit
    await audit.close()


async def test_rows_stay_queued_while_the_database_is_locked(
    sqlite_audit, clock, lifecycle, eventually, tmp_path, attempt_rows
) -> None:
    """A failed write keeps its rows; the writer backs off on the clock and writes them later."""
    audit, path = sqlite_audit, tmp_path / "audit.db"
    audit.on_event(_event(clock))
    await audit.flush()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        audit.on_event(_event(clock))
        with pytest.raises(AuditWriteError, match="OperationalError"):
            await audit.flush()
        assert len(audit.queue) == 1
        audit.startup(lifecycle)
        audit.on_event(_event(clock))

        async def failed() -> bool:
            return audit.failed_writes >= 1

        await eventually(failed)
        for _ in range(2):  # full batches do not cut the backoff short
            audit.on_event(_event(clock))
        await asyncio.sleep(0.3)  # longer than a locked write takes to fail
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(audit.queue) == 4 and audit.failed_writes == 1
    # To the end of the first backoff (2 x flush_interval) only: further on, the fake clock
    # would also fire the retry's own timeout while the retry does real I/O.
    await clock.advance(2.0)

    async def written() -> bool:
        return audit.written == 5

    await eventually(written)
    assert len(await attempt_rows(audit.engine)) == 5


def test_invalid_sizes_are_refused(clock) -> None:
    """A queue smaller than a batch, or an empty batch, is a mistake."""
    with pytest.raises(ValueError, match="batch_size"):
        AuditLog("sqlite:///x.db", batch_size=0, clock=clock)
    with pytest.raises(ValueError, match="queue_size"):
        AuditLog("sqlite:///x.db", batch_size=10, queue_size=5, clock=clock)


async def test_a_lost_connection_fails_flush_with_a_typed_error_and_keeps_the_rows(
    clock, postgresql_url, pg_schema, attempt_rows
) -> None:
    """With its backend terminated, flush raises AuditWriteError without SQL; rows stay queued."""
    audit = AuditLog(f"{postgresql_url}?schema={pg_schema}", clock=clock)
    try:
        audit.on_event(_event(clock))
        await audit.flush()
        async with audit.engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        killer = await asyncpg.connect(postgresql_url)
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        audit.on_event(_event(clock, key="SECRET-KEY"))
        with pytest.raises(AuditWriteError) as caught:
            await audit.flush()
        message = str(caught.value)
        for leak in ("INSERT", "polysource_attempts", "SELECT", key_hash("SECRET-KEY"), "SQL"):
            assert leak not in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        assert caught.value.rows == 1 and len(audit.queue) == 1
        assert await audit.flush() == 1  # the pool reconnects; nothing was lost
        assert len(await attempt_rows(audit.engine)) == 2
    finally:
        await audit.close()


async def test_stats_on_a_broken_database_raise_a_typed_error_without_sql(
    make_audit, clock
) -> None:
    """stats() on a database whose attempts table is gone raises AuditReadError naming the
    error classes, never SQLAlchemy's error with the statement."""
    audit = make_audit()
    audit.on_event(_event(clock))
    await audit.flush()
    async with audit.engine.begin() as conn:
        await conn.execute(text("DROP TABLE polysource_attempts"))
    with pytest.raises(AuditReadError) as caught:
        await audit.stats()
    message = str(caught.value)
    for leak in ("SELECT", "polysource_attempts", "SQL", "FROM"):
        assert leak not in message
    assert caught.value.cause.startswith(("ProgrammingError", "OperationalError"))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
