"""polysource integration for SQL: an L3 cache tier and the provider-attempt audit log.

The entry point ``sql`` in the ``polysource`` group names this module. Its one hook claims the
``sqlite://`` and ``postgresql://`` URL schemes for [`SqlBackend`][polysource_sql.cache.SqlBackend],
so listing such a URL in ``[cache] tiers`` adds the tier. The audit log is opt-in: set
``[audit] url`` (the ``audit_log`` hook builds it), or pass
[`audit_plugin()`][polysource_sql.audit_plugin] in
``Orchestrator(plugins=[...])``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polysource.hookspecs import hookimpl
from polysource_sql.audit import AuditLog, ProviderStats
from polysource_sql.cache import SqlBackend
from polysource_sql.errors import AuditReadError, AuditWriteError, NotWritable, SqlError
from polysource_sql.schema import MIGRATIONS, Migration, migrate

if TYPE_CHECKING:
    from polysource.cache.tiers import BackendContext
    from polysource.clock import Clock
    from polysource.registry import CacheBackendRegistrar

__all__ = [
    "AuditLog",
    "AuditReadError",
    "AuditWriteError",
    "MIGRATIONS",
    "Migration",
    "NotWritable",
    "ProviderStats",
    "SqlBackend",
    "SqlError",
    "audit_log",
    "audit_plugin",
    "create_backend",
    "migrate",
    "register_cache_backends",
]


@hookimpl
def register_cache_backends(register: CacheBackendRegistrar) -> None:
    """Claim ``sqlite://`` and ``postgresql://`` for [`SqlBackend`][polysource_sql.SqlBackend]."""
    register(("sqlite", "postgresql"), create_backend)


@hookimpl
def audit_log(url: str, retention_days: float | None) -> AuditLog | None:
    """The audit log for ``[audit] url`` when its scheme is ``sqlite`` or ``postgresql``."""
    if url.split("://", 1)[0] not in ("sqlite", "postgresql"):
        return None
    return AuditLog(url, retention_days=retention_days)


def create_backend(url: str, context: BackendContext) -> SqlBackend:
    """The cache backend factory: ``(url, context) -> SqlBackend``."""
    return SqlBackend(url, context)


def audit_plugin(
    url: str, retention_days: float | None = 30, clock: Clock | None = None
) -> AuditLog:
    """An audit log writing provider attempts to ``url``, to pass in ``Orchestrator(plugins=)``.

    Args:
        url: ``sqlite://`` (the file ``polysource-audit.db``), ``sqlite:///path.db`` or
            ``postgresql://user:password@host:port/db?schema=name``.
        retention_days: Rows older than this are deleted as new ones are written (``None``:
            kept forever).
        clock: The time source (default: the orchestrator's).
    """
    return AuditLog(url, retention_days=retention_days, clock=clock)
