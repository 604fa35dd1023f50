"""Shared cache tiers below L1 (Redis, SQL): the backend contract and the record format.

A backend stores opaque records under string keys with a time to live. A record is the value
encoded by [`polysource.cache.codec`][polysource.cache.codec] inside a small envelope (format
version, provider,
wall time it was fetched), so any tier can hand it back to any process. A backend that fails
is skipped for that request: a tier going down degrades service, it never fails a request that
a provider could answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import orjson
from attrs import define, frozen

from polysource.cache.codec import FORMAT_VERSION, converter, problem, structurer
from polysource.clock import Clock

__all__ = [
    "BackendContext",
    "CacheBackend",
    "Record",
    "TierBusy",
    "decode_many",
    "decode_record",
    "decode_with",
    "encode_record",
    "rejection",
]

T = TypeVar("T")


@frozen
class BackendContext:
    """What a cache backend factory receives besides its URL.

    Attributes:
        clock: The orchestrator's clock (wall time for stored timestamps).
        timeout: Seconds any one backend operation may take; a slower one is abandoned and
            the tier skipped for that request.
    """

    clock: Clock
    timeout: float = 0.25


class TierBusy(Exception):
    """Raised by a backend whose operation could not start in time because this process
    already has as many in flight as the backend allows (its connection pool is in use).

    The operation is a miss (or a skipped write) for its caller, and the tier stays attached:
    it is this process that is busy, not the service that fails.
    """


@runtime_checkable
class CacheBackend(Protocol):
    """A shared cache tier claimed by URL scheme through ``register_cache_backends``.

    ``register(("redis", "rediss"), factory)`` where ``factory(url, context)`` returns the
    backend. Keys are strings built by the engine (``dataset:region:tenant-hash:key``, with the
    dataset and key inside a ``{hash tag}`` so related keys share a cluster slot); values are
    opaque records (see [`encode_record()`][polysource.cache.tiers.encode_record]). Every method
    may raise: the engine bounds it
    with ``context.timeout``, counts the failure and skips the tier, so a backend needs no
    error handling of its own beyond releasing what it holds.

    Two optional members make a single-key lookup cheaper: ``get(key)``, awaited for
    ``bytes | None`` (one key, one round trip; without it the engine asks ``get_many`` for
    one key), and ``self_timed = True``, which says every read ends within
    ``context.timeout`` by itself (socket timeouts, bounded pool waits, no retry after a
    timeout), so the engine does not wrap reads and writes in a timeout of its own. A failed
    read or write still detaches the tier, except `TierBusy`.
    """

    name: str

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Records for ``keys`` (``None`` where absent), in one round trip where possible."""
        ...

    async def set(self, key: str, record: bytes, ttl: float) -> None:
        """Store ``record`` under ``key`` for ``ttl`` seconds (the TTL plus the stale window)."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove ``keys``."""
        ...

    async def delete_pattern(self, pattern: str) -> int:
        """Remove every key matching a glob ``pattern`` (``quote:*``); returns how many."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@define
class Record:
    """A decoded record: the value, its provider, the wall time it was fetched, its byte size
    and its owner.

    ``owner`` is the keyed digest of the tenant a private record belongs to
    ([`polysource.security.Keyring.digest()`][polysource.security.Keyring.digest]; ``None`` for
    public data): a reader compares
    it with its own tenant's, and a record of another owner is a miss.

    Slotted but not frozen: a frozen class sets each field through ``object.__setattr__``,
    which made building one about a tenth of a whole decode. Nothing changes a record.
    """

    value: Any
    source: str
    fetched_at: float
    size: int = 0
    owner: str | None = None


def encode_record(value: Any, source: str, fetched_at: float, owner: str | None = None) -> bytes:
    """Encode a value with its provenance (and, for private data, its owner's digest)."""
    fields = {"v": FORMAT_VERSION, "s": source, "t": fetched_at, "d": converter.unstructure(value)}
    if owner is not None:
        fields["o"] = owner
    return orjson.dumps(fields)


def decode_record(data: bytes, schema: type[T]) -> Record | None:
    """Decode a record into ``schema``; ``None`` if it is from another format or does not fit."""
    return decode_with(data, structurer(schema))


def decode_many(data: Sequence[bytes | None], schema: type[Any]) -> list[Record | None]:
    """[`decode_record()`][polysource.cache.tiers.decode_record] of each of ``data`` (``None``
    stays ``None``), in one loop."""
    structure = structurer(schema)
    loads = orjson.loads
    records: list[Record | None] = []
    append = records.append
    for item in data:
        try:
            raw = loads(item)  # type: ignore[arg-type]  # None raises: a miss
            record = (
                Record(structure(raw["d"]), str(raw["s"]), float(raw["t"]), len(item), raw.get("o"))  # type: ignore[arg-type]  # item is bytes here
                if raw["v"] == FORMAT_VERSION
                else None
            )
        except Exception:  # noqa: BLE001 - an undecodable record is a miss, whatever the cause
            record = None
        append(record)
    return records


def decode_with(data: bytes, structure: Callable[[Any], Any]) -> Record | None:
    """[`decode_record()`][polysource.cache.tiers.decode_record] with the schema's structure
    function already looked up (a loop
    over many records looks it up once)."""
    try:
        raw = orjson.loads(data)
        if raw["v"] != FORMAT_VERSION:
            return None
        return Record(structure(raw["d"]), str(raw["s"]), float(raw["t"]), len(data), raw.get("o"))
    except Exception:  # noqa: BLE001 - an undecodable record is a miss, whatever the cause
        return None


def rejection(data: bytes, schema: type[Any]) -> str:
    """Why [`decode_record()`][polysource.cache.tiers.decode_record] rejects ``data``: field paths
    and error types, no values."""
    try:
        raw = orjson.loads(data)
        version = raw["v"]
    except Exception:  # noqa: BLE001 - whatever it is, it is not a record
        return "not a record"
    if version != FORMAT_VERSION:
        return "another format"
    try:
        str(raw["s"])
        float(raw["t"])
    except Exception:  # noqa: BLE001 - a broken envelope
        return "not a record"
    return problem(raw.get("d"), schema) or "not a record"
