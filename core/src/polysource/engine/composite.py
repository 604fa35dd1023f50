"""Composite datasets: a value built from several datasets fetched in parallel.

A composite dataset (``Dataset(parts={"stats": "weapon_stats", "meta": "weapon_meta"})``) is
fetched by asking each part through the ordinary ``fetch`` (its own providers, failover, cache,
single-flight) at the same time, in a ``TaskGroup``. A part that fails leaves its field ``None``
and its error in the result; ``min_parts`` says how many must answer, and ``fail_fast`` stops
at the first failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from polysource.clock import Clock
from polysource.errors import AllProvidersFailed, InvalidRequest, PolysourceError, ProviderError
from polysource.models import CompositeResult, Dataset, Result

__all__ = ["fetch_composite"]

FetchPart = Callable[[str], Awaitable[Result[Any]]]


class _FailFast(Exception):
    """Raised inside the task group to stop the other parts at the first failure."""


async def fetch_composite(
    ds: Dataset[Any],
    key: str,
    fetch_part: Callable[[str, str], Awaitable[Result[Any]]],
    clock: Clock,
    *,
    parts: Sequence[str] | None = None,
    min_parts: int = 1,
    fail_fast: bool = False,
) -> CompositeResult[Any]:
    """Fetch the parts of ``ds`` for ``key`` in parallel and build the composite value.

    Args:
        ds: The composite dataset.
        key: The canonical key.
        fetch_part: ``(part_dataset_name, key) -> Result``: the orchestrator's fetch.
        clock: For the duration.
        parts: Only these parts (default: all).
        min_parts: Fewest parts that must answer.
        fail_fast: Stop at the first part that fails and raise.

    Raises:
        InvalidRequest: Unknown part names, or ``min_parts`` out of range.
        AllProvidersFailed: Fewer than ``min_parts`` parts answered, or one failed with
            ``fail_fast``; it carries every failed part's provider errors.
    """
    chosen = list(parts) if parts is not None else list(ds.parts)
    unknown = [name for name in chosen if name not in ds.parts]
    if unknown or not chosen:
        raise InvalidRequest(
            f"{ds.name} has parts {', '.join(ds.parts)}; asked for {', '.join(chosen) or 'none'}"
        )
    if not 1 <= min_parts <= len(chosen):
        raise InvalidRequest(f"min_parts must be between 1 and {len(chosen)}, got {min_parts}")
    started = clock.monotonic()
    results: dict[str, Result[Any]] = {}
    errors: dict[str, PolysourceError] = {}

    async def one(name: str) -> None:
        try:
            results[name] = await fetch_part(ds.parts[name], key)
        except PolysourceError as error:
            errors[name] = error
            if fail_fast:
                raise _FailFast from error

    try:
        async with asyncio.TaskGroup() as group:
            for name in chosen:
                group.create_task(one(name))
    except* _FailFast:
        pass
    if (fail_fast and errors) or len(results) < min_parts:
        raise AllProvidersFailed(
            f"{len(results)} of {len(chosen)} parts of {ds.name} {key!r} answered; "
            f"{len(chosen) if fail_fast else min_parts} required",
            _provider_errors(errors),
        )
    data = ds.schema(key, **{name: result.data for name, result in results.items()})
    return CompositeResult(
        data,
        results,
        errors,
        succeeded=len(results),
        failed=len(errors),
        duration=clock.monotonic() - started,
    )


def _provider_errors(errors: Mapping[str, PolysourceError]) -> list[ProviderError]:
    out: list[ProviderError] = []
    for name, error in errors.items():
        if isinstance(error, AllProvidersFailed):
            out.extend(error.errors)
        elif isinstance(error, ProviderError):
            out.append(error)
        else:
            out.append(
                ProviderError(
                    f"part {name}: {error}",
                    provider="-",
                    category="invalid_request",
                    retryable=False,
                )
            )
    return out
