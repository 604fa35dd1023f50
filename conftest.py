"""Workspace-wide test setup.

aioresponses 0.7.9 (the latest release) builds ``ClientResponse`` objects without the
``stream_writer`` argument that aiohttp 3.14 made required (pnuckowski/aioresponses#289, fix
pending in #288). We keep aiohttp 3.14, a security release, and give aioresponses a response
class that supplies the argument; aiohttp only reads ``stream_writer.output_size`` from it.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import aiohttp
import aioresponses.core

if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:

    class _ClientResponse(aiohttp.ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
            super().__init__(*args, **kwargs)

    aioresponses.core.ClientResponse = _ClientResponse  # type: ignore[misc]
