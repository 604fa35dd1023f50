"""Connections: a tenant's link at a provider, and the store that keeps them.

A link or access token belongs to one provider, so reads of private data fail over only to
providers where the tenant has a connection. The default store keeps connections in memory; an
application supplies its own (a database table, a vault) through the ``connection_store`` hook.
Access tokens are [`Secret`][polysource.config.Secret] values and never printed.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from attrs import field, frozen

from polysource.config import Secret

__all__ = ["Connection", "ConnectionStore", "MemoryConnectionStore"]


@frozen
class Connection:
    """A tenant's link at one provider.

    Attributes:
        tenant: Who owns it.
        provider: The provider holding it.
        link_id: The provider's id of the link (Plaid item, Belvo link, MX member).
        access_token: What reads send (Plaid access token, MX user guid, ...), masked.
        institution: The bank, when known.
        cursor: Where the last transaction sync stopped, for providers that sync by cursor.
    """

    tenant: str
    provider: str
    link_id: str | None = None
    access_token: Secret | None = field(default=None, repr=False)
    institution: str | None = None
    cursor: str | None = None


@runtime_checkable
class ConnectionStore(Protocol):
    """Where connections live; all methods are async so a store may do I/O."""

    async def get(self, tenant: str, provider: str) -> Connection | None:
        """The tenant's connection at ``provider``, if any."""
        ...

    async def list(self, tenant: str) -> list[Connection]:
        """Every connection of ``tenant``."""
        ...

    async def save(self, connection: Connection) -> None:
        """Add or replace the connection of (tenant, provider)."""
        ...

    async def delete(self, tenant: str, provider: str) -> None:
        """Forget the tenant's connection at ``provider``."""
        ...


class MemoryConnectionStore:
    """The default store: a dict in this process."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Connection] = {}

    async def get(self, tenant: str, provider: str) -> Connection | None:
        """The tenant's connection at ``provider``, if any."""
        return self._items.get((tenant, provider))

    async def list(self, tenant: str) -> list[Connection]:
        """Every connection of ``tenant``."""
        return [c for (owner, _), c in self._items.items() if owner == tenant]

    async def save(self, connection: Connection) -> None:
        """Add or replace the connection of (tenant, provider)."""
        self._items[(connection.tenant, connection.provider)] = connection

    async def delete(self, tenant: str, provider: str) -> None:
        """Forget the tenant's connection at ``provider``."""
        self._items.pop((tenant, provider), None)

    def __repr__(self) -> str:
        return f"MemoryConnectionStore({len(self._items)} connections)"
