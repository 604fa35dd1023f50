"""polysource's provider conformance suite, run against the Plaid emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from polysource.config import Secret
from polysource.connections import Connection
from polysource.emulation import Faults, serve
from polysource.operations import CreateLink, ExchangeToken, GetAccounts, SyncTransactions
from polysource.testing import (
    ErrorCase,
    FetchCase,
    OperationCase,
    OperationErrorCase,
    ProviderConformance,
)
from polysource_plaid import PlaidProvider
from polysource_plaid.emulator import create_app

ACCESS = "access-sandbox-conformance-7d1e0b"
PUBLIC = "public-sandbox-conformance-4c2a9f"
LINKED = Connection("conformance-tenant", "plaid", None, Secret.of(ACCESS), "ins_109508")
UNKNOWN = Connection("conformance-tenant", "plaid", None, Secret.of("access-sandbox-gone"))


def _failing(password: str) -> CreateLink:
    return CreateLink(institution="ins_109508", password=Secret.of(password))


class TestPlaidConformance(ProviderConformance):
    """The conformance checks, with the emulator answering."""

    factory = PlaidProvider
    secrets = {"client_id": "plaid-conformance-client", "secret": "plaid-conformance-secret"}
    fetch_cases = [
        FetchCase("accounts", "all", "US", "conformance-tenant", LINKED),
        FetchCase("transactions", "all", "US", "conformance-tenant", LINKED),
    ]
    error_cases = [
        ErrorCase("accounts", "all", "auth", "US", "conformance-tenant", UNKNOWN),
        ErrorCase("transactions", "all", "auth", "US", "conformance-tenant", None),
        ErrorCase("accounts", "no-such-account", "not_found", "US", "conformance-tenant", LINKED),
    ]
    operation_cases = [
        OperationCase("create_link", CreateLink(institution="ins_109508"), region="US"),
        OperationCase("create_link", CreateLink(), region="US"),
        OperationCase("exchange_token", ExchangeToken(Secret.of(PUBLIC)), region="US"),
        OperationCase("get_accounts", GetAccounts(), LINKED, region="US"),
        OperationCase("sync_transactions", SyncTransactions(), LINKED, region="US"),
    ]
    operation_error_cases = [
        OperationErrorCase("get_accounts", "auth", GetAccounts(), UNKNOWN, region="US"),
        OperationErrorCase("sync_transactions", "auth", SyncTransactions(), None, region="US"),
        OperationErrorCase(
            "get_accounts", "not_found", GetAccounts(account_ids=("nope",)), LINKED, region="US"
        ),
        OperationErrorCase(
            "exchange_token", "invalid_request", ExchangeToken(Secret.of("public-x")), region="US"
        ),
        OperationErrorCase(
            "create_link", "auth", _failing("error_INVALID_CREDENTIALS"), region="US"
        ),
        OperationErrorCase(
            "create_link", "provider_down", _failing("error_INSTITUTION_DOWN"), region="US"
        ),
        OperationErrorCase("create_link", "rate_limit", _failing("error_RATE_LIMIT"), region="US"),
    ]

    @pytest.fixture
    async def environment(self) -> AsyncIterator[Mapping[str, Any]]:
        """A fresh emulator with one linked item and one public token, as the base URL."""
        app = create_app(
            Faults(seed=1), items={ACCESS: "ins_109508"}, public_tokens={PUBLIC: "ins_109511"}
        )
        async with serve(app) as url:
            yield {"base_url": url}
