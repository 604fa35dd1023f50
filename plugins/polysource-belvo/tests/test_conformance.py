"""polysource's provider conformance suite, run against the Belvo emulator."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import aiohttp
import pytest

from polysource.config import Secret
from polysource.connections import Connection
from polysource.emulation import Faults, serve
from polysource.operations import CreateLink, GetAccounts, SyncTransactions
from polysource.testing import (
    ErrorCase,
    FetchCase,
    OperationCase,
    OperationErrorCase,
    ProviderConformance,
)
from polysource_belvo import BelvoProvider
from polysource_belvo.emulator import create_app

SECRET_ID = "belvo-conformance-id-61c2"
SECRET_PASSWORD = "belvo-conformance-pw-0a7f"
WALL = 1_767_225_600.0  # FakeClock's default wall time, 2026-01-01


def _link(username: str, institution: str = "erebor_mx_retail") -> CreateLink:
    return CreateLink(
        institution=institution, username=Secret.of(username), password=Secret.of("full")
    )


# The emulator's ids are derived from the seed and the order of creation, so the link the
# environment fixture makes first (seed 2) always has this id, and its checking account this.
LINK_ID = "f06ca337-7def-4a14-a6bf-243198d272e2"
ACCOUNT_ID = "5b755a2d-718f-4bf5-a293-a98b96f72756"
LINKED = Connection("conformance-tenant", "belvo", LINK_ID, institution="erebor_mx_retail")


class TestBelvoConformance(ProviderConformance):
    """The conformance checks, with the emulator answering."""

    factory = BelvoProvider
    secrets: ClassVar[Mapping[str, str]] = {
        "secret_id": SECRET_ID,
        "secret_password": SECRET_PASSWORD,
    }
    operation_cases: ClassVar = [
        OperationCase("create_link", _link("bnk100"), region="MX"),
        OperationCase("get_accounts", GetAccounts(), LINKED, region="MX"),
        OperationCase("get_accounts", GetAccounts([ACCOUNT_ID]), LINKED, region="MX"),
        OperationCase("sync_transactions", SyncTransactions(), LINKED, region="MX"),
        OperationCase("sync_transactions", SyncTransactions(cursor="2025-12-01"), LINKED),
    ]
    fetch_cases: ClassVar = [
        FetchCase("accounts", "all", "MX", "conformance-tenant", LINKED),
        FetchCase("accounts", ACCOUNT_ID, "MX", "conformance-tenant", LINKED),
        FetchCase("transactions", "all", "MX", "conformance-tenant", LINKED),
        FetchCase("transactions", ACCOUNT_ID, "CO", "conformance-tenant", LINKED),
    ]
    operation_error_cases: ClassVar = [
        OperationErrorCase("create_link", "auth", _link("user_invalid"), region="MX"),
        OperationErrorCase("create_link", "auth", _link("u", "gotham_mx_business"), region="MX"),
        OperationErrorCase("create_link", "provider_down", _link("user_down"), region="CO"),
        OperationErrorCase("create_link", "rate_limit", _link("user_sessions"), region="BR"),
        OperationErrorCase("create_link", "timeout", _link("user_timeout"), region="MX"),
        OperationErrorCase("create_link", "invalid_request", _link("u", "nowhere_mx_retail")),
        OperationErrorCase("get_accounts", "auth", GetAccounts(), None, region="MX"),
        OperationErrorCase("sync_transactions", "auth", SyncTransactions(), None, region="MX"),
    ]
    error_cases: ClassVar = [
        ErrorCase("accounts", "all", "auth", region="MX"),
        ErrorCase("transactions", "all", "auth", region="MX"),
        ErrorCase(
            "accounts",
            "5722d0ba-69d7-42dc-8ff5-33767b83c5d6",
            "not_found",
            "MX",
            "conformance-tenant",
            LINKED,
        ),
    ]

    @pytest.fixture
    async def environment(self) -> AsyncIterator[Mapping[str, Any]]:
        """The emulator (accepting only the configured keys) as the provider's base URL."""
        app = create_app(
            Faults(seed=2),
            clock=lambda: WALL,
            secret_id=SECRET_ID,
            secret_password=SECRET_PASSWORD,
        )
        async with serve(app) as url:
            await _make_first_link(url)
            yield {"base_url": url, "options": {"page_size": 25}}


async def _make_first_link(url: str) -> None:
    token = base64.b64encode(f"{SECRET_ID}:{SECRET_PASSWORD}".encode()).decode()
    body = {"institution": "erebor_mx_retail", "username": "conformance", "password": "full"}
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session,
        session.post(f"{url}/api/links/", json=body) as resp,
    ):
        assert resp.status == 201
        assert (await resp.json())["id"] == LINK_ID, "the emulator's id derivation changed"
