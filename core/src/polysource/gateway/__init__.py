"""The HTTP gateway: an aiohttp application over one [`Orchestrator`][polysource.Orchestrator].

Run it with ``polysource serve``, or mount it in an aiohttp application of your own:

    from polysource.gateway import create_app

    app = create_app(Orchestrator.from_config("polysource.toml"))

Importing ``polysource`` does not import this package (nor ``aiohttp.web``).
"""

from __future__ import annotations

from polysource.gateway.app import CLIENT, GATEWAY, Gateway, create_app
from polysource.gateway.auth import Client
from polysource.gateway.openapi import document as openapi_document
from polysource.gateway.problems import PROBLEM_JSON, Problem
from polysource.gateway.serve import serve

__all__ = [
    "CLIENT",
    "Client",
    "GATEWAY",
    "Gateway",
    "PROBLEM_JSON",
    "Problem",
    "create_app",
    "openapi_document",
    "serve",
]
