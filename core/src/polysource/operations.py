"""The standard operations of the banking domain, with their parameters and results.

They live in core so that every aggregator (Plaid, Belvo, MX, ...) maps onto the same
provider-neutral shapes; ``await orch.execute(SYNC_TRANSACTIONS, SyncTransactions(), ...)``
returns an ``OperationResult[Transactions]``.

The flow: ``create_link`` starts a link at an aggregator (for Plaid a link token the app's
front end hands to Plaid Link; for Belvo and MX the link is made with the user's bank
credentials at once). ``exchange_token`` turns a Plaid public token into a connection. Reads
(``get_accounts``, ``sync_transactions``) use the tenant's connection at a provider, kept in
the connection store. Tokens are [`Secret`][polysource.config.Secret] values: printing shows a
mask.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from attrs import field, frozen

from polysource.config import Secret
from polysource.datasets import Accounts, Transactions
from polysource.models import Operation, _strings

__all__ = [
    "CREATE_LINK",
    "EXCHANGE_TOKEN",
    "GET_ACCOUNTS",
    "STANDARD_OPERATIONS",
    "SYNC_TRANSACTIONS",
    "CreateLink",
    "ExchangeToken",
    "GetAccounts",
    "Link",
    "SyncTransactions",
]


@frozen
class CreateLink:
    """Parameters of ``create_link``.

    Attributes:
        institution: The bank (an aggregator's institution id or code), when known up front.
        username: The user's bank login, for aggregators that link with credentials.
        password: The user's bank password (a masked secret).
        products: What the link is for (``transactions``, ``accounts``).
        language: Language of any UI the aggregator shows.
        redirect_uri: Where an OAuth bank sends the user back.
    """

    institution: str | None = None
    username: Secret | None = None
    password: Secret | None = None
    products: tuple[str, ...] = field(default=("transactions",), converter=_strings)
    language: str = "en"
    redirect_uri: str | None = None


@frozen
class Link:
    """The result of ``create_link`` and ``exchange_token``.

    Attributes:
        provider: The aggregator that holds the link.
        link_id: The aggregator's id of the link (Plaid item, Belvo link, MX member).
        status: ``pending`` (the user must finish in the front end) or ``active``.
        link_token: A token for the aggregator's front-end widget (Plaid Link), masked.
        access_token: The token reads use, masked; ``None`` while pending.
        institution: The bank, when known.
    """

    provider: str
    link_id: str | None = None
    status: str = "active"
    link_token: Secret | None = None
    access_token: Secret | None = None
    institution: str | None = None


@frozen
class ExchangeToken:
    """Parameters of ``exchange_token``: the public token the front end received."""

    public_token: Secret


@frozen
class GetAccounts:
    """Parameters of ``get_accounts``: optionally only some accounts."""

    account_ids: tuple[str, ...] = field(default=(), converter=_strings)


@frozen
class SyncTransactions:
    """Parameters of ``sync_transactions``.

    Attributes:
        since: First date wanted (providers that page by date).
        until: Last date wanted.
        cursor: Where a previous sync stopped (providers that sync by cursor).
    """

    since: dt.date | None = None
    until: dt.date | None = None
    cursor: str | None = None


CREATE_LINK: Final = Operation(
    "create_link",
    CreateLink,
    Link,
    idempotent=False,
    sticky=False,
    description="Start a link at an aggregator; fails over freely across the region.",
)
EXCHANGE_TOKEN: Final = Operation(
    "exchange_token",
    ExchangeToken,
    Link,
    idempotent=False,
    sticky=False,
    description="Turn a front-end public token into a connection (Plaid).",
)
GET_ACCOUNTS: Final = Operation(
    "get_accounts",
    GetAccounts,
    Accounts,
    description="Accounts of the tenant's connection.",
)
SYNC_TRANSACTIONS: Final = Operation(
    "sync_transactions",
    SyncTransactions,
    Transactions,
    description="Transactions of the tenant's connection, every page followed to the end.",
)

STANDARD_OPERATIONS: Final = (CREATE_LINK, EXCHANGE_TOKEN, GET_ACCOUNTS, SYNC_TRANSACTIONS)
