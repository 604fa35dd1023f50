"""Shared cache tiers below L1 (L2 Redis, L3 SQL): lookup, fill, write-through, degradation.

Each tier operation is bounded by ``timeout``. A tier that fails (down, slow, answering garbage
it cannot decode is only a miss) is *detached* for ``cooldown`` seconds: requests skip it
instead of waiting on it, an event says so, and it is tried again afterwards (re-attached on
its first success). No request that a provider could answer fails because of a tier.

Writes go out in the background (at most ``max_writes`` at a time; beyond that they are
dropped and counted), so they never delay an answer.

A record that does not decode into the dataset's schema (a field of the wrong type, a wrong
shape, another format), or that is stamped more than ``MAX_CLOCK_SKEW`` seconds ahead of this
process's wall clock, is a miss in that tier: a ``tier`` event with ``state: rejected`` says
why, and the provider's answer replaces it.

A deletion (an invalidation) that a tier misses because it is detached, or fails, is kept and
run before the tier is read again, so an invalidated value never comes back from a tier that
was away. Past ``MAX_PENDING`` kept deletions, they are widened to whole datasets.

A private record carries the keyed digest of its tenant (its *owner*) and every read names
the owner it expects: a record of another owner (or of none) is a miss and a
``tenant_mismatch`` event, never a hit. Keys only carry the tenant's short pseudonym, so
isolation does not rest on the pseudonym being unique.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from polysource.cache.tiers import (
    CacheBackend,
    Record,
    decode_many,
    decode_record,
    encode_record,
    rejection,
)
from polysource.clock import Clock
from polysource.engine.guard import Failed, Guard
from polysource.engine.singleflight import TaskSet
from polysource.engine.telemetry import Emitter
from polysource.events import EventKind
from polysource.models import Dataset

__all__ = [
    "MAX_CLOCK_SKEW",
    "MAX_PENDING",
    "Tier",
    "TierChain",
    "glob_escape",
    "glob_matcher",
    "shared_key",
    "shared_pattern",
    "shared_prefix",
]

T = TypeVar("T")

MAX_PENDING = 256
"""Deletions kept for a detached tier before they are widened to whole datasets."""

MAX_CLOCK_SKEW = 1.0
"""Seconds a record's wall-clock stamp may be ahead of ours (another process's clock) and
still count, as fetched now; a record stamped further ahead is rejected, so no stamp keeps a
record fresh beyond its TTL."""


def _dataset_pattern(key_or_pattern: str) -> str:
    """The pattern of every shared key of the dataset ``key_or_pattern`` belongs to."""
    return "{" + key_or_pattern[1:].split(":", 1)[0] + ":*"


def shared_key(ds: Dataset[Any], key: str, region: str, pseudonym: str | None) -> str:
    """The key of an entry in shared tiers:
    [`shared_prefix()`][polysource.engine.tiers.shared_prefix] and the key.

    ``{dataset:region}`` is a Redis Cluster hash tag, so the keys of one ``fetch_many`` share a
    slot and one ``MGET`` reads them. ``pseudonym`` is a private dataset's tenant's
    ([`pseudonym()`][polysource.security.Keyring.pseudonym]), ``None`` for public data.
    """
    return f"{{{ds.name}:{region}}}:{pseudonym or '-'}:{key}"  # one call less than prefix + key


_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """``text`` with every glob character escaped, so that a pattern matches it literally."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def shared_pattern(
    ds: Dataset[Any], pattern: str | None, region: str, pseudonym: str | None
) -> str:
    """The glob over shared keys that ``pattern`` (over ``ds``'s keys in ``region``) stands for.

    Only ``pattern`` is a glob; the dataset and region are escaped, so a region named ``*`` is
    that one region, as in the memory tier. ``None``: every key of the dataset (every region
    and tenant). ``pseudonym`` is as in [`shared_key()`][polysource.engine.tiers.shared_key].
    """
    name = glob_escape(ds.name)
    if pattern is None:
        return "{" + name + ":*"
    return f"{{{name}:{glob_escape(region)}}}:{pseudonym or '-'}:{pattern}"


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """A test of whole strings against ``pattern`` as shared tiers read it.

    ``*`` is any run of characters, ``?`` one character, and ``\\`` makes the next character
    literal (``fnmatch`` has no escape, and reads ``[...]`` as a class, which patterns reject).
    """
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append(re.escape(next(chars, "\\")))
        elif char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL).fullmatch  # type: ignore[return-value]


def shared_prefix(ds: Dataset[Any], region: str, pseudonym: str | None) -> str:
    """What every [`shared_key()`][polysource.engine.tiers.shared_key] of ``ds``, ``region`` and
    ``pseudonym`` starts with."""
    return f"{{{ds.name}:{region}}}:{pseudonym or '-'}:"


class Tier(Guard):
    """One shared tier: a [`Guard`][polysource.engine.guard.Guard] (``tier`` events) around a
    cache backend.

    ``read_one`` is the backend's single-key ``get`` (else a ``get_many`` of one);
    ``self_timed`` says that its reads and writes end within the tier timeout by themselves.
    """

    def __init__(
        self, backend: CacheBackend, clock: Clock, emitter: Emitter, timeout: float, cooldown: float
    ) -> None:
        super().__init__(
            backend.name, clock, emitter, timeout=timeout, cooldown=cooldown, event=EventKind.TIER
        )
        self.backend = backend
        self.hits = 0
        self.mismatches = 0
        """Records of another owner read (each a miss)."""
        self.pending: list[tuple[bool, Any]] = []
        """Deletions the tier missed while detached, ``(is_pattern, keys or pattern)``: run
        before the tier is read again."""
        self.replaying = False
        get = getattr(backend, "get", None)
        self.read_one: Callable[[str], Awaitable[bytes | None]] = (
            get if get is not None else self._first
        )
        self.self_timed = getattr(backend, "self_timed", False) is True

    async def _first(self, key: str) -> bytes | None:
        return (await self.backend.get_many([key]))[0]

    def read(self, operation: Awaitable[T]) -> Awaitable[T | Failed]:
        """A read: `run()`, without a timeout of ours for a self-timed backend.

        A self-timed backend (Redis: socket and pool timeouts at the tier timeout, no retry
        after a timeout) already ends every read within the bound, and the timeout of ours
        around it was a tenth of an L2 hit's overhead.
        """
        return self.run(operation, timed=not self.self_timed)


class TierChain:
    """The shared tiers in order (L2, L3, ...); at least one (no tiers: no chain).

    A chain is always true, so ``if engine.tiers`` costs no call on every request.

    Args:
        backends: The tiers, top first.
        clock: For timeouts and cool-downs.
        emitter: For tier events.
        tasks: Owner of the background writes.
        timeout: Seconds any one tier operation may take.
        cooldown: Seconds a failed tier stays detached.
        max_writes: Background writes in flight at most.
    """

    def __init__(
        self,
        backends: Sequence[CacheBackend],
        clock: Clock,
        emitter: Emitter,
        tasks: TaskSet,
        *,
        timeout: float = 0.25,
        cooldown: float = 5.0,
        max_writes: int = 256,
    ) -> None:
        if not backends:
            raise ValueError("a tier chain needs at least one tier")
        self.tiers = [Tier(backend, clock, emitter, timeout, cooldown) for backend in backends]
        self.clock = clock
        self.emitter = emitter
        self.tasks = tasks
        self.max_writes = max_writes
        self.writing = 0
        self.dropped_writes = 0

    def reattach(self) -> None:
        """Use every tier again at once (an operator's control; normally a cool-down ends)."""
        for tier in self.tiers:
            tier.detached_until = 0.0

    def _foreign(self, tier: Tier, key: str) -> None:
        """A record of another owner was read from ``tier`` under ``key``: a miss."""
        tier.mismatches += 1
        if self.emitter.wants[EventKind.TENANT_MISMATCH]:
            self.emitter.emit(
                EventKind.TENANT_MISMATCH,
                dataset=key[1:].split(":", 1)[0],
                key=key,
                private=True,
                detail={"tier": tier.name},
            )

    async def get(
        self, key: str, ds: Dataset[Any], owner: str | None = None
    ) -> tuple[Record, str, list[Tier]] | None:
        """The first tier's record for ``key`` (of ``owner``: a tenant's digest, ``None`` for
        public data), its tier's name, and the tiers above that missed."""
        missed: list[Tier] = []
        for tier in self.tiers:
            if self.clock.monotonic() < tier.detached_until:
                continue
            if tier.pending and not await self._replay(tier):
                continue
            data = await tier.read(tier.read_one(key))
            if data is not None and not isinstance(data, Failed):
                record = self._accept(tier, key, ds, data, decode_record(data, ds.schema))
                if record is not None:
                    if record.owner == owner:
                        tier.hits += 1
                        return record, tier.name, missed
                    self._foreign(tier, key)
            missed.append(tier)
        return None

    async def get_many(
        self, keys: Sequence[str], ds: Dataset[Any], owner: str | None = None
    ) -> tuple[list[Record | None], list[str]]:
        """Records for ``keys`` (``None`` where no tier holds one of ``owner``, as in
        `get()`), one round trip per tier.

        Returns the records and, beside each, the name of its tier (``""`` for none).
        """
        found: list[Record | None] = [None] * len(keys)
        names = [""] * len(keys)
        remaining: Sequence[int] = range(len(keys))  # positions still missing
        asked = keys
        for tier in self.tiers:
            if not remaining or not tier.attached():
                continue
            if tier.pending and not await self._replay(tier):
                continue
            answer = await tier.read(tier.backend.get_many(asked))
            if isinstance(answer, Failed):
                continue
            still: list[int] = []
            name = tier.name
            hits = 0
            latest = self.clock.time() + MAX_CLOCK_SKEW
            records = decode_many(answer, ds.schema)
            for position, data, record in zip(remaining, answer, records, strict=False):
                if record is not None and record.owner != owner:
                    self._foreign(tier, keys[position])
                    still.append(position)
                    continue
                if record is not None and record.fetched_at <= latest:
                    found[position] = record
                    names[position] = name
                    hits += 1
                    continue
                if data is not None:
                    self._reject(tier, keys[position], ds, data, record)
                still.append(position)
            tier.hits += hits
            remaining = still
            asked = [keys[i] for i in still]
        return found, names

    def _accept(
        self, tier: Tier, key: str, ds: Dataset[Any], data: bytes, record: Record | None
    ) -> Record | None:
        """``record`` if it decoded and is not stamped in the future, else ``None``."""
        if record is not None and record.fetched_at <= self.clock.time() + MAX_CLOCK_SKEW:
            return record
        self._reject(tier, key, ds, data, record)
        return None

    def _reject(
        self, tier: Tier, key: str, ds: Dataset[Any], data: bytes, record: Record | None
    ) -> None:
        """Say why a tier's record is a miss: it did not decode, or it is from the future."""
        if self.emitter.wants[EventKind.TIER]:
            reason = rejection(data, ds.schema) if record is None else "stamped in the future"
            self.emitter.emit(
                EventKind.TIER,
                dataset=ds.name,
                key=key,
                private=ds.private,
                detail={"tier": tier.name, "state": "rejected", "reason": reason},
            )

    def write(
        self,
        key: str,
        value: Any,
        source: str,
        fetched_at: float,
        ttl: float,
        tiers: Sequence[Tier] | None = None,
        owner: str | None = None,
    ) -> None:
        """Write a value of ``owner`` (a tenant's digest, ``None`` for public data) to the
        tiers (all, or ``tiers``) in the background."""
        targets = [t for t in (self.tiers if tiers is None else tiers) if t.attached()]
        if not targets:
            return
        if self.writing >= self.max_writes:
            self.dropped_writes += 1
            return
        record = encode_record(value, source, fetched_at, owner)
        self.writing += 1
        task = self.tasks.spawn(self._write(targets, key, record, ttl))
        task.add_done_callback(self._written)

    def _written(self, _task: asyncio.Task[None]) -> None:
        self.writing -= 1

    async def _write(self, targets: Sequence[Tier], key: str, record: bytes, ttl: float) -> None:
        for tier in targets:
            await tier.run(tier.backend.set(key, record, ttl), timed=not tier.self_timed)

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove keys from every tier (a detached one: when it is back)."""
        for tier in self.tiers:
            await self._delete(tier, False, list(keys))

    async def delete_pattern(self, pattern: str) -> int:
        """Remove keys matching ``pattern`` from every tier (a detached one: when it is back);
        returns how many the attached tiers removed."""
        total = 0
        for tier in self.tiers:
            total += await self._delete(tier, True, pattern)
        return total

    def _deletion(self, tier: Tier, is_pattern: bool, what: Any) -> Awaitable[Any]:
        return tier.backend.delete_pattern(what) if is_pattern else tier.backend.delete(what)

    async def _delete(self, tier: Tier, is_pattern: bool, what: Any) -> int:
        if tier.pending and tier.attached():
            await self._replay(tier)
        if not tier.attached() or tier.pending:
            self._keep(tier, is_pattern, what)
            return 0
        outcome = await tier.run(self._deletion(tier, is_pattern, what))
        if isinstance(outcome, Failed):  # run it when the tier is back
            self._keep(tier, is_pattern, what)
            return 0
        return int(outcome or 0)

    def _keep(self, tier: Tier, is_pattern: bool, what: Any) -> None:
        """Keep a deletion the tier missed; past the bound, widen all to whole datasets."""
        tier.pending.append((is_pattern, what))
        if len(tier.pending) > MAX_PENDING:
            datasets = {
                _dataset_pattern(item)
                for pattern_kept, kept in tier.pending
                for item in ((kept,) if pattern_kept else kept)
            }
            tier.pending = [(True, pattern) for pattern in sorted(datasets)]

    async def _replay(self, tier: Tier) -> bool:
        """Run the deletions ``tier`` missed; ``False`` if it failed again or another request
        is running them now (either way: do not read it yet)."""
        if tier.replaying:
            return False
        tier.replaying = True
        try:
            while tier.pending:
                deletion = tier.pending[0]
                if isinstance(await tier.run(self._deletion(tier, *deletion)), Failed):
                    return False
                if tier.pending and tier.pending[0] is deletion:  # not widened meanwhile
                    tier.pending.pop(0)
        finally:
            tier.replaying = False
        return True

    async def close(self) -> None:
        """Close every backend."""
        for tier in self.tiers:
            with contextlib.suppress(Exception):  # closing a dead tier must not fail shutdown
                await tier.backend.close()
