"""The distribution's entry point loads and registers; the tracing plugin plugs in."""

from __future__ import annotations

import importlib.metadata

import polysource_otel
from polysource.plugins import PluginManager
from polysource_otel import OtelTracing


def _load():
    (entry,) = [e for e in importlib.metadata.entry_points(group="polysource") if e.name == "otel"]
    return entry.load()


def test_entry_point_names_this_module() -> None:
    """The ``otel`` entry point (group ``polysource``) loads ``polysource_otel``."""
    assert _load() is polysource_otel


def test_installed_plugin_registers_and_turns_nothing_on() -> None:
    """Loading the entry point registers the plugin, unbroken, with no event sink of its own."""
    manager = PluginManager(only=["otel"], environ={})
    registry = manager.resolve()
    assert not registry.broken
    assert "otel" in manager.names
    assert not registry.event_sinks and not registry.startup_hooks


def test_tracing_plugin_registers_its_hooks() -> None:
    """An OtelTracing passed in is an event sink with startup and shutdown hooks."""
    tracing = OtelTracing()
    registry = PluginManager(plugins=[tracing], entry_points=False, environ={}).resolve()
    assert not registry.broken
    assert tracing.on_event in registry.event_sinks
    assert tracing.startup in registry.startup_hooks
    assert tracing.shutdown in registry.shutdown_hooks
