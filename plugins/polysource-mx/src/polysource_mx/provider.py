"""The MX provider: bank links (members), accounts and transactions through the MX Platform API.

Configuration (section ``[providers.mx]``):

- ``credentials.client_id`` / ``credentials.api_key``: sent as HTTP Basic auth, e.g.
  ``{ env = "MX_CLIENT_ID" }``; without them the ``MX_CLIENT_ID`` and ``MX_API_KEY``
  environment variables are read.
- ``options.environment``: ``production`` (default, ``https://api.mx.com``) or
  ``integration`` (``https://int-api.mx.com``); ``base_url`` overrides both.
- ``options.records_per_page``: page size of list calls, 10 to 1000 (default 100).
- ``options.history_days``: how far back transactions go when no date or cursor is given
  (default 120, MX's own default).

How polysource's operations map onto MX:

- ``create_link``: the tenant becomes an MX *user* whose partner ``id`` is the tenant
  (``POST /users``; a 409 means it exists, so it is looked up by ``id``), then the bank login
  becomes a *member* (``POST /users/{user}/members``) with the credential guids the
  institution lists (``GET /institutions/{code}/credentials``). The member's partner ``id`` is
  ``tenant:institution``, so a repeated link answers 409 and the existing member gets the new
  credentials (``PUT``) instead of a duplicate. The link's id is the member guid and its
  access token the user guid; it is ``active`` once the member is ``CONNECTED``.
- ``get_accounts``: every page of the member's accounts.
- ``sync_transactions``: every page of the member's transactions in a date range. MX has no
  sync cursor, so the cursor polysource keeps is a date: the newest transaction date seen.
  A sync starts from ``params.cursor``, else ``params.since``, else the connection's saved
  cursor, else ``history_days`` ago; it is inclusive, so the cursor's day comes again (same
  transaction ids).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any, Final

from polysource.config import Secret
from polysource.datasets import Account, Accounts, Transaction, Transactions
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import Operation, OperationCall, ProviderInfo, Request
from polysource.operations import CreateLink, GetAccounts, Link, SyncTransactions
from polysource.provider import BaseProvider, ProviderSettings
from polysource_mx.client import DEFAULT_ENVIRONMENT, MXClient, base_url_for
from polysource_mx.mapping import (
    PROVIDER,
    Credential,
    Member,
    accounts_from,
    accounts_value,
    credentials_from,
    latest_date,
    link_from,
    member_from,
    member_list_from,
    page_from,
    transactions_from,
    transactions_value,
    user_guid_from,
    user_list_from,
)

__all__ = ["MXProvider"]

_MIN_PAGE: Final = 10
_MAX_PAGE: Final = 1000
_MAX_PAGES: Final = 10_000
"""Pages followed at most when the caller set no deadline (a runaway pagination guard)."""
_CONFLICT: Final = 409


def _version() -> str:
    try:
        return importlib.metadata.version("polysource-mx")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _invalid_request(message: str) -> ProviderError:
    return ProviderError(message, provider=PROVIDER, category=ErrorCategory.INVALID_REQUEST)


def _not_linked(what: str) -> ProviderError:
    return ProviderError(
        f"not linked: the tenant has no MX connection for {what}",
        provider=PROVIDER,
        category=ErrorCategory.AUTH,
        retryable=False,
    )


def _int_option(options: Mapping[str, Any], name: str, default: int) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"must be a non-negative integer, got {value!r}",
            path=f"providers.{PROVIDER}.options.{name}",
        )
    return value


def _reveal(secret: Secret) -> str:
    try:
        return secret.reveal()
    except ConfigError as exc:
        raise _invalid_request(f"create_link credentials: {exc}") from None


def _parse_date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _invalid_request(f"{what} {text!r} is not a YYYY-MM-DD date") from None


class MXProvider(BaseProvider):
    """Bank links, accounts and transactions of North American institutions through MX."""

    info = ProviderInfo(
        name=PROVIDER,
        datasets={"accounts", "transactions"},
        operations={"create_link", "get_accounts", "sync_transactions"},
        regions={"US": 2, "MX": 2},
        # MX publishes no request rate for these endpoints (only 2,000 concurrent connections
        # per IP and per-product limits agreed in contracts), so none is assumed here.
        rate_limits=(),
        credentials=("client_id", "api_key"),
        version=_version(),
        description="MX Platform API: bank links (members), accounts and transactions.",
    )

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        options = settings.options
        host = base_url_for(str(options.get("environment", DEFAULT_ENVIRONMENT)))
        self.client = MXClient(
            settings.credential("client_id", env="MX_CLIENT_ID"),
            settings.credential("api_key", env="MX_API_KEY"),
            base_url=settings.base_url or host,
            timeout=settings.config.timeout,
        )
        per_page = _int_option(options, "records_per_page", 100)
        self.records_per_page = min(max(per_page, _MIN_PAGE), _MAX_PAGE)
        self.history_days = _int_option(options, "history_days", 120)

    # -- operations ----------------------------------------------------------------------------

    async def execute(
        self, operation: Operation[Any, Any], params: Any, call: OperationCall
    ) -> Any:
        """Perform ``create_link``, ``get_accounts`` or ``sync_transactions``."""
        name = operation.name
        if name == "create_link":
            return await self._create_link(params or CreateLink(), call)
        if name == "get_accounts":
            return await self._get_accounts(params or GetAccounts(), call)
        if name == "sync_transactions":
            return await self._sync_transactions(params or SyncTransactions(), call)
        raise ProviderError(
            f"operation {name!r} is not served by MX",
            provider=PROVIDER,
            category=ErrorCategory.INVALID_REQUEST,
            unsupported=True,
        )

    async def _create_link(self, params: CreateLink, call: OperationCall) -> Link:
        if not call.tenant:
            raise _invalid_request("create_link needs a tenant: it becomes the MX user's id")
        if not params.institution:
            raise _invalid_request("create_link needs an institution code (e.g. 'mxbank')")
        if params.username is None or params.password is None:
            raise _invalid_request("create_link needs the bank username and password")
        username, password = _reveal(params.username), _reveal(params.password)
        secrets = (username, password)
        user_guid = await self._ensure_user(call.tenant)
        answer = await self.client.institution_credentials(params.institution)
        credentials = _fill_credentials(credentials_from(answer), username, password)
        partner_id = f"{call.tenant}:{params.institution}"
        member = {
            "id": partner_id,
            "institution_code": params.institution,
            "credentials": credentials,
            "skip_aggregation": False,
        }
        try:
            created = await self.client.create_member(user_guid, member, secrets=secrets)
        except ProviderError as exc:
            if exc.status != _CONFLICT:
                raise
            existing = await self._member_by_id(user_guid, partner_id, call.deadline, exc)
            update = {"credentials": credentials, "skip_aggregation": False}
            created = await self.client.update_member(
                user_guid, existing.guid, update, secrets=secrets
            )
        return link_from(member_from(created), user_guid)

    async def _ensure_user(self, tenant: str) -> str:
        try:
            return user_guid_from(await self.client.create_user(tenant))
        except ProviderError as exc:
            if exc.status != _CONFLICT:
                raise
            conflict = exc
        for guid, partner_id in user_list_from(await self.client.list_users(tenant)):
            if partner_id == tenant:
                return guid
        raise ProviderError(
            "MX answered that the user exists (409) but lists no user with that id",
            provider=PROVIDER,
            category=ErrorCategory.INVALID_RESPONSE,
        ) from conflict

    async def _member_by_id(
        self, user_guid: str, partner_id: str, deadline: float | None, conflict: ProviderError
    ) -> Member:
        fetch = functools.partial(self._members_page, user_guid)
        async with aclosing(self._pages(fetch, deadline, "members")) as pages:
            async for payload in pages:
                for member in member_list_from(payload):
                    if member.partner_id == partner_id:
                        return member
        raise ProviderError(
            "MX answered that the member exists (409) but lists no member with that id",
            provider=PROVIDER,
            category=ErrorCategory.INVALID_RESPONSE,
        ) from conflict

    async def _members_page(self, user_guid: str, page: int) -> dict[str, Any]:
        return await self.client.list_members(user_guid, page=page, per_page=self.records_per_page)

    async def _get_accounts(self, params: GetAccounts, call: OperationCall) -> Accounts:
        user_guid, member_guid = _link(call.connection, "get_accounts")
        accounts = await self._accounts(user_guid, member_guid, call.deadline)
        if params.account_ids:
            wanted = set(params.account_ids)
            accounts = [a for a in accounts if a.account_id in wanted]
        return accounts_value(accounts)

    async def _sync_transactions(
        self, params: SyncTransactions, call: OperationCall
    ) -> Transactions:
        user_guid, member_guid = _link(call.connection, "sync_transactions")
        resumed: dt.date | None = None
        if params.cursor:
            resumed = _parse_date(params.cursor, "cursor")
        elif params.since is None and getattr(call.connection, "cursor", None):
            resumed = _parse_date(call.connection.cursor, "the connection's cursor")
        since = resumed or params.since or self._default_since()
        if params.until is not None and params.until < since:
            raise _invalid_request(f"until {params.until} is before since {since}")
        found = await self._transactions(
            user_guid, member_guid, None, since, params.until, call.deadline
        )
        newest = latest_date(found)
        if resumed is not None and (newest is None or newest < resumed):
            newest = resumed
        return transactions_value(found, cursor=newest.isoformat() if newest else None)

    # -- datasets ------------------------------------------------------------------------------

    async def fetch(self, request: Request) -> Any:
        """``accounts`` or ``transactions`` of the tenant's connection.

        The key ``all`` is everything (transactions of the last ``history_days``); any other
        key is one account guid.
        """
        dataset = request.dataset.name
        if dataset not in self.info.datasets:
            raise ProviderError(
                f"dataset {dataset!r} is not served by MX",
                provider=PROVIDER,
                category=ErrorCategory.INVALID_REQUEST,
                unsupported=True,
            )
        user_guid, member_guid = _link(request.connection, dataset)
        if dataset == "accounts":
            accounts = await self._accounts(user_guid, member_guid, request.deadline)
            if request.key != "all":
                accounts = [a for a in accounts if a.account_id == request.key]
                if not accounts:
                    raise ProviderError(
                        f"account {request.key!r} not found in the tenant's MX connection",
                        provider=PROVIDER,
                        category=ErrorCategory.NOT_FOUND,
                    )
            return accounts_value(accounts)
        account_guid = None if request.key == "all" else request.key
        found = await self._transactions(
            user_guid, member_guid, account_guid, self._default_since(), None, request.deadline
        )
        newest = latest_date(found)
        return transactions_value(found, cursor=newest.isoformat() if newest else None)

    # -- paging --------------------------------------------------------------------------------

    def _default_since(self) -> dt.date:
        today = dt.datetime.fromtimestamp(self.clock.time(), dt.UTC).date()
        return today - dt.timedelta(days=self.history_days)

    async def _accounts(
        self, user_guid: str, member_guid: str | None, deadline: float | None
    ) -> list[Account]:
        fetch = functools.partial(self._accounts_page, user_guid, member_guid)
        found: dict[str, Account] = {}
        async for payload in self._pages(fetch, deadline, "accounts"):
            found.update((a.account_id, a) for a in accounts_from(payload))
        return list(found.values())

    async def _accounts_page(
        self, user_guid: str, member_guid: str | None, page: int
    ) -> dict[str, Any]:
        return await self.client.list_accounts(
            user_guid, member_guid, page=page, per_page=self.records_per_page
        )

    async def _transactions(
        self,
        user_guid: str,
        member_guid: str | None,
        account_guid: str | None,
        since: dt.date,
        until: dt.date | None,
        deadline: float | None,
    ) -> list[Transaction]:
        fetch = functools.partial(
            self._transactions_page,
            user_guid,
            member_guid,
            account_guid,
            since.isoformat(),
            until.isoformat() if until else None,
        )
        found: dict[str, Transaction] = {}
        async for payload in self._pages(fetch, deadline, "transactions"):
            # a transaction that moved between pages while paging is kept once, newest copy
            found.update((t.transaction_id, t) for t in transactions_from(payload))
        return list(found.values())

    async def _transactions_page(
        self,
        user_guid: str,
        member_guid: str | None,
        account_guid: str | None,
        from_date: str,
        to_date: str | None,
        page: int,
    ) -> dict[str, Any]:
        return await self.client.list_transactions(
            user_guid,
            member_guid=member_guid,
            account_guid=account_guid,
            from_date=from_date,
            to_date=to_date,
            page=page,
            per_page=self.records_per_page,
        )

    async def _pages(
        self,
        fetch: Callable[[int], Awaitable[dict[str, Any]]],
        deadline: float | None,
        what: str,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every page of a list, from page 1 until ``current_page >= total_pages``.

        Raises:
            ProviderError: ``timeout`` when ``deadline`` passes before a page is asked;
                ``invalid_response`` when MX answers another page than the one asked (paging
                would repeat forever) or pages on past the guard.
        """
        page = 1
        while True:
            if deadline is not None and self.clock.monotonic() >= deadline:
                raise ProviderError(
                    f"deadline passed before page {page} of {what}",
                    provider=PROVIDER,
                    category=ErrorCategory.TIMEOUT,
                )
            if deadline is None and page > _MAX_PAGES:
                raise ProviderError(
                    f"{what} still paging after {_MAX_PAGES} pages",
                    provider=PROVIDER,
                    category=ErrorCategory.INVALID_RESPONSE,
                )
            payload = await fetch(page)
            info = page_from(payload)
            if info.current_page != page:
                raise ProviderError(
                    f"asked page {page} of {what}, MX answered page {info.current_page}",
                    provider=PROVIDER,
                    category=ErrorCategory.INVALID_RESPONSE,
                )
            yield payload
            if info.is_last:
                return
            page += 1

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()


def _link(connection: Any, what: str) -> tuple[str, str | None]:
    """The user guid (revealed) and member guid of the tenant's connection."""
    token = getattr(connection, "access_token", None) if connection is not None else None
    if token is None:
        raise _not_linked(what)
    return token.reveal(), getattr(connection, "link_id", None)


def _fill_credentials(
    fields: list[Credential], username: str, password: str
) -> list[dict[str, str]]:
    """The member's ``credentials``: the login in the first plain field, the password in the
    first secret one.

    Raises:
        ProviderError: ``invalid_request`` when the institution asks for other fields too (an
            extra PIN or security question), which ``create_link`` cannot supply.
    """
    login = next((f for f in fields if not f.is_secret), None)
    secret = next((f for f in fields if f.is_secret), None)
    extra = [f for f in fields if f is not login and f is not secret]
    if login is None or secret is None or extra:
        raise _invalid_request(
            f"the institution asks for {len(fields)} credential field(s); create_link "
            "supplies exactly a login and a password"
        )
    return [{"guid": login.guid, "value": username}, {"guid": secret.guid, "value": password}]
