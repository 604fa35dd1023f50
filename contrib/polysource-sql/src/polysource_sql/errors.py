"""The errors polysource_sql raises besides a bad URL (`InvalidUrl`,
a ``ConfigError``):

    PolysourceError
    └── SqlError               the database could not do what was asked
        ├── AuditReadError     the audit rows could not be read (AuditLog.stats)
        ├── AuditWriteError    a batch of audit rows was not written (the rows stay queued)
        └── NotWritable        a SQLite file the tier must write is read-only

Messages name the database (password masked) and the driver's error class, never a statement
or its parameters: those hold table names, hashed keys and records.
"""

from __future__ import annotations

from polysource.errors import PolysourceError

__all__ = ["AuditReadError", "AuditWriteError", "NotWritable", "SqlError"]


class SqlError(PolysourceError):
    """The database could not do what was asked."""


class AuditReadError(SqlError):
    """The audit rows could not be read ([`stats()`][polysource_sql.audit.AuditLog.stats]): the
    database is down, or its tables are not what the audit log wrote.

    Attributes:
        cause: The class name of the underlying error (``DBAPIError: UndefinedTableError``).
    """

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class AuditWriteError(SqlError):
    """A batch of audit rows could not be written; the rows stay queued for the next write.

    Attributes:
        rows: How many rows the failed batch held.
        cause: The class name of the underlying error (``DBAPIError: ConnectionDoesNotExistError``).
    """

    def __init__(self, message: str, *, rows: int, cause: str) -> None:
        super().__init__(message)
        self.rows = rows
        self.cause = cause


class NotWritable(SqlError):
    """A file of a SQLite database (its ``-shm`` index above all) cannot be written.

    SQLite maps the ``-shm`` file into memory; writing to it once the file is read-only (an
    immutable attribute, a read-only mount) kills the process with ``SIGBUS``, so the tier
    refuses to touch the database instead.
    """
