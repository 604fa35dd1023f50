"""polysource's provider conformance suite, run against the MX emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from polysource.config import Secret
from polysource.connections import Connection
from polysource.emulation import Faults, serve
from polysource.models import OperationCall
from polysource.operations import (
    CREATE_LINK,
    CreateLink,
    ExchangeToken,
    GetAccounts,
    SyncTransactions,
)
from polysource.testing import (
    ErrorCase,
    FetchCase,
    OperationCase,
    OperationErrorCase,
    ProviderConformance,
)
from polysource_mx import MXProvider
from polysource_mx.emulator import create_app

SECRETS = {"client_id": "mx-conformance-id-51ac", "api_key": "mx-conformance-key-0e7d"}
TENANT = "conformance-tenant"
UNKNOWN = Connection(TENANT, "mx", "MBR-unknown", Secret.of("USR-unknown-conformance"), "mxbank")


def _login(institution: str | None = "mxbank", password: str = "password") -> CreateLink:
    return CreateLink(institution, Secret.of("mxuser"), Secret.of(password))


class TestMXConformance(ProviderConformance):
    """The conformance checks, with the emulator answering and the tenant linked beforehand.

    The read cases need the connection that ``create_link`` returns (its user and member
    guids), so they are built per test from the link the autouse fixture makes.
    """

    factory = MXProvider
    secrets = SECRETS
    operation_error_cases = [
        OperationErrorCase("get_accounts", "auth", GetAccounts()),
        OperationErrorCase("sync_transactions", "not_found", SyncTransactions(), UNKNOWN),
        OperationErrorCase("get_accounts", "not_found", GetAccounts(), UNKNOWN),
        OperationErrorCase("create_link", "invalid_request", _login(None)),
        OperationErrorCase("create_link", "not_found", _login("no_such_bank")),
        OperationErrorCase("create_link", "invalid_request", _login("mx_pin_bank")),
        OperationErrorCase("exchange_token", "invalid_request", ExchangeToken(Secret.of("p"))),
        OperationErrorCase(
            "sync_transactions", "invalid_request", SyncTransactions(cursor="yesterday"), UNKNOWN
        ),
    ]

    @pytest.fixture
    async def environment(self) -> AsyncIterator[Mapping[str, Any]]:
        """The emulator, accepting only the configured credentials, as the base URL."""
        app = create_app(Faults(seed=5), client_id=SECRETS["client_id"], api_key=SECRETS["api_key"])
        async with serve(app) as url:
            yield {"base_url": url}

    @pytest.fixture(autouse=True)
    async def linked(self, provider) -> Connection:
        """Link the tenant at mxbank; the read cases go through this connection."""
        link = await provider.execute(
            CREATE_LINK, _login(), OperationCall(CREATE_LINK, "US", TENANT)
        )
        assert link.status == "active"
        self.connection = Connection(
            TENANT, "mx", link.link_id, link.access_token, link.institution
        )
        return self.connection

    @property
    def fetch_cases(self) -> list[FetchCase]:  # type: ignore[override]
        """Accounts and transactions of the linked connection, all and for one account."""
        return [
            FetchCase("accounts", "all", "US", TENANT, self.connection),
            FetchCase("transactions", "all", "US", TENANT, self.connection),
        ]

    @property
    def error_cases(self) -> list[ErrorCase]:  # type: ignore[override]
        """No connection is auth; an unknown user or account is not_found."""
        return [
            ErrorCase("accounts", "all", "auth", "US", TENANT),
            ErrorCase("transactions", "all", "not_found", "US", TENANT, UNKNOWN),
            ErrorCase("accounts", "ACT-missing", "not_found", "US", TENANT, self.connection),
            ErrorCase("transactions", "ACT-missing", "not_found", "US", TENANT, self.connection),
        ]

    @property
    def operation_cases(self) -> list[OperationCase]:  # type: ignore[override]
        """Linking again (the member is updated), reading accounts, syncing transactions."""
        return [
            OperationCase("create_link", _login(), None, TENANT, "US"),
            OperationCase("create_link", _login(password="challenge"), None, TENANT, "US"),
            OperationCase("get_accounts", GetAccounts(), self.connection, TENANT, "US"),
            OperationCase("sync_transactions", SyncTransactions(), self.connection, TENANT, "US"),
        ]
