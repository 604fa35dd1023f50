"""The distribution's entry point loads and claims its URL schemes; the audit log plugs in."""

from __future__ import annotations

import importlib.metadata

from polysource.cache.tiers import BackendContext
from polysource.engine.telemetry import Emitter
from polysource.events import EventKind
from polysource.plugins import PluginManager
from polysource.registry import CacheBackendRegistrar
from polysource_sql import AuditLog, SqlBackend, audit_plugin


def _load():
    (entry,) = [e for e in importlib.metadata.entry_points(group="polysource") if e.name == "sql"]
    return entry.load()


async def test_entry_point_claims_sqlite_and_postgresql(clock, tmp_path) -> None:
    """register_cache_backends claims both schemes with a factory ``(url, context)``."""
    registrar = CacheBackendRegistrar("cache backend")
    _load().register_cache_backends(registrar)
    assert set(registrar.items) == {"sqlite", "postgresql"}
    backend = registrar.items["sqlite"](f"sqlite:///{tmp_path / 'c.db'}", BackendContext(clock))
    try:
        assert isinstance(backend, SqlBackend) and backend.name == "sqlite"
        pg = registrar.items["postgresql"]("postgresql://u@localhost/db", BackendContext(clock))
        assert isinstance(pg, SqlBackend) and pg.name == "postgresql"
        await pg.close()
    finally:
        await backend.close()


async def test_installed_plugin_does_not_turn_the_audit_log_on() -> None:
    """Loading the entry point registers no event sink: the audit log is opt-in."""
    manager = PluginManager(only=["sql"], environ={})
    registry = manager.resolve()
    assert not registry.broken
    assert "sql" in manager.names
    assert {"sqlite", "postgresql"} <= set(registry.cache_backends)
    assert not any(getattr(s, "__self__", None) for s in registry.event_sinks)


async def test_audit_plugin_registers_as_an_event_sink(clock, tmp_path) -> None:
    """``audit_plugin(url)`` is a plugin with on_event, startup and shutdown, for three kinds."""
    audit = audit_plugin(f"sqlite:///{tmp_path / 'a.db'}", retention_days=7, clock=clock)
    try:
        assert isinstance(audit, AuditLog) and audit.retention_days == 7
        registry = PluginManager(plugins=[audit], entry_points=False, environ={}).resolve()
        assert not registry.broken
        assert audit.on_event in registry.event_sinks
        assert audit.startup in registry.startup_hooks
        assert audit.shutdown in registry.shutdown_hooks
        wants = Emitter(registry.event_sinks, clock).wants
        assert {kind for kind, wanted in wants.items() if wanted} == {
            EventKind.SUCCESS,
            EventKind.FAILURE,
            EventKind.FAILOVER,
        }
    finally:
        await audit.close()
