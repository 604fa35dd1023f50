"""Recorded HTTP answers for plugin tests: ``aioresponses``, working with current aiohttp.

aioresponses 0.7.9 builds ``ClientResponse`` objects without the ``stream_writer`` argument
that aiohttp 3.14 made required, so a plain ``aioresponses()`` fails with a ``TypeError`` on
the first request. [`recorded_http()`][polysource.testing.http.recorded_http] supplies that
argument (aiohttp reads only
``stream_writer.output_size`` from it) and is otherwise ``aioresponses`` itself.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from aioresponses import aioresponses

__all__ = ["recorded_http"]


def _supply_stream_writer() -> None:
    """Give aioresponses a response class that passes ``stream_writer`` (once per process)."""
    import aioresponses.core

    core: Any = aioresponses.core  # the module's ClientResponse is not part of its typed API
    if "stream_writer" not in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        return
    if getattr(core.ClientResponse, "_polysource_stream_writer", False):
        return

    class _ClientResponse(aiohttp.ClientResponse):
        _polysource_stream_writer = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
            super().__init__(*args, **kwargs)

    core.ClientResponse = _ClientResponse


def recorded_http(**options: Any) -> aioresponses:
    """An ``aioresponses`` mock of every aiohttp request, usable as a context manager.

    Register answers with ``mocked.get(url, payload=...)``, ``mocked.post(...)`` and so on, as
    aioresponses documents; ``options`` go to ``aioresponses`` (``passthrough=[...]``, ...).
    Needs the ``aioresponses`` package (``pip install "polysource[testing]"``).
    """
    _supply_stream_writer()
    from aioresponses import aioresponses

    return aioresponses(**options)
