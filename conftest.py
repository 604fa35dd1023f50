"""Workspace-wide test setup: aioresponses made to work with the aiohttp the workspace uses.

``polysource.testing.recorded_http`` carries the fix (aioresponses 0.7.9 does not pass the
``stream_writer`` argument aiohttp 3.14 requires); applying it here lets the workspace's own
tests use ``aioresponses()`` directly as well.
"""

from __future__ import annotations

from polysource.testing.http import _supply_stream_writer

_supply_stream_writer()
