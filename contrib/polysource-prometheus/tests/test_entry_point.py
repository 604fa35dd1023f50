"""The distribution's entry point loads and registers; the metrics plugin plugs in."""

from __future__ import annotations

import importlib.metadata

import polysource_prometheus
from polysource.plugins import PluginManager
from polysource_prometheus import PrometheusMetrics


def _load():
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="polysource") if e.name == "prometheus"
    ]
    return entry.load()


def test_entry_point_names_this_module() -> None:
    """The ``prometheus`` entry point (group ``polysource``) loads ``polysource_prometheus``."""
    assert _load() is polysource_prometheus


def test_installed_plugin_registers_and_turns_nothing_on() -> None:
    """Loading the entry point registers the plugin, unbroken, with no event sink of its own."""
    manager = PluginManager(only=["prometheus"], environ={})
    registry = manager.resolve()
    assert not registry.broken
    assert "prometheus" in manager.names
    assert not registry.event_sinks and not registry.startup_hooks


def test_metrics_plugin_registers_its_hooks() -> None:
    """A PrometheusMetrics passed in is an event sink with startup and shutdown hooks."""
    metrics = PrometheusMetrics()
    registry = PluginManager(plugins=[metrics], entry_points=False, environ={}).resolve()
    assert not registry.broken
    assert metrics.on_event in registry.event_sinks
    assert metrics.startup in registry.startup_hooks
    assert metrics.shutdown in registry.shutdown_hooks
