"""Shared fixtures: the polysource testing kit's opt-in pytest plugin."""

pytest_plugins = ["polysource.testing.pytest_plugin", "pytester"]
