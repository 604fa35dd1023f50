"""The merge stage: ask several providers at once and combine their answers into one value.

[`fetch_merged()`][polysource.engine.merge.fetch_merged] asks every candidate provider of a
(dataset, region) pair in parallel,
each through the attempt stage (breaker, rate limit, budget, per-try timeout, retries,
health), then hands the answers, in failover order, to a
[`MergeStrategy`][polysource.engine.merge.MergeStrategy].

This module holds that stage and the contract a strategy implements
([`MergeStrategy`][polysource.engine.merge.MergeStrategy],
[`Answer`][polysource.engine.merge.Answer], [`MergeOptions`][polysource.engine.merge.MergeOptions],
[`MergeOutcome`][polysource.engine.merge.MergeOutcome]). Strategies are pure: they see
the dataset, the answers and the options, never the clock or the network. The built-ins
(``first``, ``field_priority``, ``median``, ``union``, ``consensus``) live in
[`polysource.engine.strategies`][polysource.engine.strategies]; a plugin adds its own with the
``register_merge_strategies`` hook.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs
from attrs import define, field, frozen

from polysource.errors import (
    AllProvidersFailed,
    InvalidRequest,
    PluginError,
    ProviderError,
    stops_failover,
)
from polysource.events import EventKind
from polysource.models import Dataset, MergedResult, Request
from polysource.validation import excerpt

if TYPE_CHECKING:
    from polysource.engine.attempt import ProviderSlot
    from polysource.engine.fetch import FetchEngine

__all__ = [
    "Answer",
    "DEFAULT_TOLERANCE",
    "MergeOptions",
    "MergeOutcome",
    "MergeStrategy",
    "exclude_outliers",
    "fetch_merged",
]

DEFAULT_TOLERANCE: Final = 0.01
"""Relative difference under which ``consensus`` treats two numbers as agreeing (1 %)."""


# -- the contract ------------------------------------------------------------------------------


@frozen
class Answer:
    """One provider's answer, as a merge strategy sees it.

    Args:
        provider: The provider's name.
        value: Its answer, an instance of the dataset's schema.
        fetched_at: Monotonic time at which the provider answered.
    """

    provider: str
    value: Any
    fetched_at: float = 0.0


def _priorities(value: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"field_priority must be a mapping, not {excerpt(value)}")
    out: dict[str, tuple[str, ...]] = {}
    for name, order in value.items():
        if not isinstance(name, str):
            raise InvalidRequest(
                f"field_priority's field names must be strings, not {excerpt(name)}"
            )
        out[name] = _names(order, f"field_priority[{excerpt(name)}]")
    return out


def _shown(value: object) -> str:
    """A number of a sensible size as it is, anything else as a short excerpt."""
    if isinstance(value, float) or (isinstance(value, int) and -(10**9) < value < 10**9):
        return repr(value)
    return excerpt(value)


def _name(name: str) -> str:
    """A name as it is when short and printable, else a short excerpt."""
    return name if len(name) <= 32 and name.isprintable() else excerpt(name)


def _names(value: object, what: str) -> tuple[str, ...]:
    """``value`` as a tuple of provider names; ``InvalidRequest`` unless it is a collection
    of strings."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidRequest(f"{what} must be a list of provider names, not {excerpt(value)}")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str):
            raise InvalidRequest(f"{what} must hold provider names, not {excerpt(name)}")
    return names


def _tolerance(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidRequest(f"tolerance must be a number >= 0, got {_shown(value)}")


@frozen
class MergeOptions:
    """How a merge strategy should combine answers; built per ``fetch_merged`` call.

    Args:
        field_priority: Field name to provider names, most trusted first. A field not listed,
            and the providers a field's list leaves out, follow the answers' (failover) order.
            Used by ``field_priority``; other strategies may read it too.
        tolerance: Relative difference under which two numbers agree (``0.01`` is 1 % of the
            larger magnitude). Used by ``consensus``.
    """

    field_priority: Mapping[str, tuple[str, ...]] = field(factory=dict, converter=_priorities)
    tolerance: float = field(default=DEFAULT_TOLERANCE, validator=_tolerance)


@frozen
class MergeOutcome:
    """What a merge strategy returns.

    Args:
        value: The merged value, an instance of the dataset's schema.
        provenance: Field name to the providers whose answers made the field's value (one for
            a picked value, several for a median or a union); leave out fields no answer set.
        conflicts: Field name to ``{provider: value}`` for fields on which the answers
            disagreed and the strategy did not resolve the disagreement.
    """

    value: Any
    provenance: Mapping[str, tuple[str, ...]] = field(factory=dict)
    conflicts: Mapping[str, Mapping[str, Any]] = field(factory=dict)


class MergeStrategy(Protocol):
    """Combines several providers' answers for one key into one value.

    Register an instance with ``register_merge_strategies``:

        @hookimpl
        def register_merge_strategies(register):
            register("highest_price", HighestPrice())

    A strategy must be pure (no I/O, no clock, no shared state): the engine may call it from
    any request. It may also define ``check(dataset) -> None``, called before any provider is
    asked, that raises [`InvalidRequest`][polysource.errors.InvalidRequest] for a dataset it cannot
    merge (``union`` does so for a dataset without ``merge_key``).
    """

    def merge(
        self, dataset: Dataset[Any], answers: Sequence[Answer], options: MergeOptions
    ) -> MergeOutcome:
        """Combine ``answers`` into one value of ``dataset.schema``.

        Args:
            dataset: The dataset asked for; its ``schema`` is the type of every answer.
            answers: At least one answer, in failover order (not in order of arrival).
            options: The caller's options.

        Returns:
            The merged value with its provenance and any conflicts.

        Raises:
            InvalidRequest: The dataset or the options do not suit the strategy.
        """
        ...


# -- fetch_merged ------------------------------------------------------------------------------


class _StopFailover(Exception):
    """Raised inside the task group to cancel the other calls: every provider would reject."""


@define
class _Gathered:
    """What the parallel calls produced, by position in the candidate list."""

    outcomes: list[Answer | ProviderError | None]
    calls: list[int]


async def _ask(
    engine: FetchEngine,
    slot: ProviderSlot,
    request: Request,
    deadline: float,
    gathered: _Gathered,
    index: int,
) -> None:
    before = slot.attempts
    try:
        value = await engine.calls.fetch(slot, request, deadline)
    except ProviderError as error:
        gathered.outcomes[index] = error
        if stops_failover(error):
            raise _StopFailover from error
    else:
        gathered.outcomes[index] = Answer(slot.name, value, engine.clock.monotonic())
    finally:
        gathered.calls[index] = slot.attempts - before


async def _ask_all(
    engine: FetchEngine, slots: Sequence[ProviderSlot], request: Request, deadline: float
) -> _Gathered:
    """Call every slot at once; an error that stops failover cancels the calls still running.

    The group needs no timeout of its own: each attempt is bounded by ``deadline`` (its
    per-try timeout and its retry backoff both stop there).
    """
    gathered = _Gathered([None] * len(slots), [0] * len(slots))
    try:
        async with asyncio.TaskGroup() as group:
            for index, slot in enumerate(slots):
                group.create_task(_ask(engine, slot, request, deadline, gathered, index))
    except* _StopFailover:
        pass
    return gathered


def _strategy(name: str, strategies: Mapping[str, MergeStrategy]) -> MergeStrategy:
    found = strategies.get(name) if isinstance(name, str) else None
    if found is None:
        raise InvalidRequest(
            f"unknown merge strategy {excerpt(name)}; registered: {', '.join(sorted(strategies))}"
        )
    return found


def _check_options(ds: Dataset[Any], options: MergeOptions) -> None:
    if not attrs.has(ds.schema):
        raise InvalidRequest(
            f"dataset {ds.name!r} cannot be merged: its schema {ds.schema.__name__} is not an "
            "attrs class"
        )
    names = [attribute.name for attribute in attrs.fields(ds.schema)]
    unknown = sorted(set(options.field_priority) - set(names))
    if unknown:
        raise InvalidRequest(
            f"field_priority names unknown field(s) {', '.join(map(_name, unknown[:5]))} "
            f"of dataset {ds.name!r}; fields: {', '.join(names)}"
        )


def _order(
    engine: FetchEngine, ds: Dataset[Any], region: str, providers: Sequence[str] | None
) -> tuple[str, ...]:
    """The providers to ask: the failover order (the providers the operator disabled in place,
    to be reported), or the caller's subset of it, in their order."""
    order = engine.calls.route(ds.name, region)
    if providers is None:
        return order
    providers = _names(providers, "providers")
    if not providers:
        raise InvalidRequest("providers must be a non-empty list of names")
    unknown = [_name(name) for name in providers if name not in order]
    if unknown:
        raise InvalidRequest(
            f"provider(s) {', '.join(unknown[:5])} do not serve {ds.name!r} in region {region!r}; "
            f"candidates: {', '.join(order)}"
        )
    return tuple(dict.fromkeys(providers))


def _check_min_providers(ds: Dataset[Any], region: str, order: Sequence[str], wanted: int) -> None:
    if isinstance(wanted, bool) or not isinstance(wanted, int) or not 1 <= wanted <= len(order):
        raise InvalidRequest(
            f"min_providers must be between 1 and {len(order)} (the providers of {ds.name!r} "
            f"in {region!r}: {', '.join(order)}), got {_shown(wanted)}"
        )


def _collect(
    order: Sequence[str],
    slots: Sequence[ProviderSlot],
    gathered: _Gathered,
    skipped: Sequence[ProviderError],
) -> tuple[list[Answer], list[ProviderError]]:
    """Answers and errors in failover order, the providers the walk passed by included."""
    by_name: dict[str, Answer | ProviderError | None] = {error.provider: error for error in skipped}
    by_name.update((slot.name, gathered.outcomes[i]) for i, slot in enumerate(slots))
    answers: list[Answer] = []
    errors: list[ProviderError] = []
    for name in order:
        outcome = by_name.get(name)
        if isinstance(outcome, Answer):
            answers.append(outcome)
        elif outcome is not None:  # None: cancelled because another provider stopped failover
            errors.append(outcome)
    return answers, errors


def _fail(
    engine: FetchEngine,
    ds: Dataset[Any],
    request: Request,
    message: str,
    errors: list[ProviderError],
) -> AllProvidersFailed:
    if engine.emitter.wants[EventKind.REQUEST_FAILED]:
        engine.emitter.emit(
            EventKind.REQUEST_FAILED,
            dataset=ds.name,
            key=request.key,
            private=ds.private,
            tenant=request.tenant,
            detail={"categories": [error.category.value for error in errors], "merged": True},
        )
    return AllProvidersFailed(message, errors)


def _merge(
    name: str,
    strategy: MergeStrategy,
    ds: Dataset[Any],
    answers: Sequence[Answer],
    options: MergeOptions,
) -> MergeOutcome:
    outcome = strategy.merge(ds, tuple(answers), options)
    if not isinstance(outcome, MergeOutcome) or not isinstance(outcome.value, ds.schema):
        got = outcome.value if isinstance(outcome, MergeOutcome) else outcome
        raise PluginError(
            f"merge strategy {name!r} returned a {type(got).__name__} for dataset {ds.name!r}, "
            f"not a MergeOutcome holding a {ds.schema.__name__}"
        )
    return outcome


def exclude_outliers(
    ds: Dataset[Any], answers: Sequence[Answer]
) -> tuple[list[Answer], dict[str, str]]:
    """Cross-provider validation: drop answers whose ``ds.validate`` fields are outliers.

    With three answers or more, an answer whose value of a validated field differs from the
    median of all answers by more than ``ds.tolerance`` (relative to the median) is excluded.
    Two answers cannot outvote each other, so they are both kept.

    Returns:
        The answers kept, and provider name to the reason for each answer excluded.
    """
    if not ds.validate or len(answers) < 3:
        return list(answers), {}
    excluded: dict[str, str] = {}
    for name in ds.validate:
        values = [
            (answer.provider, float(value))
            for answer in answers
            if isinstance(value := getattr(answer.value, name, None), int | float | Decimal)
            and not isinstance(value, bool)
        ]
        if len(values) < 3:
            continue
        middle = statistics.median(v for _, v in values)
        for provider, value in values:
            if abs(value - middle) > ds.tolerance * abs(middle) and provider not in excluded:
                excluded[provider] = (
                    f"{name} {value:g} differs from the median {middle:g} by more than "
                    f"{ds.tolerance:.0%}"
                )
    return [a for a in answers if a.provider not in excluded], excluded


async def fetch_merged(
    engine: FetchEngine,
    ds: Dataset[Any],
    key: str,
    region: str,
    tier: str,
    tenant: str | None,
    *,
    strategy: str | None,
    strategies: Mapping[str, MergeStrategy],
    min_providers: int = 1,
    providers: Sequence[str] | None = None,
    options: MergeOptions | None = None,
    time_limit: float,
) -> MergedResult[Any]:
    """Ask every candidate provider in parallel and merge their answers.

    Each provider is called through the attempt stage, so breakers, rate limits, budgets,
    retries, per-try timeouts and health apply as for ``fetch``; providers disabled by the
    operator or out of rotation are not asked and are reported as errors, as the fetch walk
    reports them. For a private dataset each provider gets the tenant's
    connection there, and a provider where the tenant has none fails with ``auth``.

    Merged results are neither read from nor written to the cache: a merged value depends on
    the strategy, the options and which providers answered, and callers ask for one precisely
    to get each provider's current word.

    Args:
        engine: The orchestrator's fetch engine.
        ds: The dataset.
        key: The key, normalised by the dataset.
        region: The routing region.
        tier: The caller's tier.
        tenant: The tenant (required by the caller for private datasets).
        strategy: Name of the merge strategy; ``None`` means the dataset's ``merge`` default.
        strategies: The registered strategies by name.
        min_providers: Fewest answers to merge; fewer is a failure.
        providers: Ask only these providers, in this order (default: the failover order).
        options: Options handed to the strategy.
        time_limit: Seconds the whole request may take.

    Returns:
        The merged value with its sources, provenance, conflicts and the errors of the
        providers that did not answer.

    Raises:
        InvalidRequest: Unknown strategy, field or provider; ``min_providers`` out of range; a
            dataset the strategy cannot merge.
        UnknownRegion: No provider serves the dataset in the region.
        AllProvidersFailed: Fewer than ``min_providers`` answered, or a provider rejected the
            request itself (``invalid_request``), which stops the other calls.
        PluginError: The strategy returned something other than a value of the schema.
    """
    clock = engine.clock
    started = clock.monotonic()
    name = ds.merge if strategy is None else strategy
    merger = _strategy(name, strategies)
    options = MergeOptions() if options is None else options
    _check_options(ds, options)
    check = getattr(merger, "check", None)
    if check is not None:
        check(ds)
    order = _order(engine, ds, region, providers)
    _check_min_providers(ds, region, order, min_providers)
    engine.requests += 1
    deadline = started + time_limit
    request = Request(ds, ds.normalize_key(key), region, tier, tenant, deadline=deadline)
    skipped: list[ProviderError] = []
    slots = engine.calls.asked(order, ds.name, skipped)
    gathered = await _ask_all(engine, slots, request, deadline)
    answers, errors = _collect(order, slots, gathered, skipped)
    stopped = next((error for error in errors if stops_failover(error)), None)
    if stopped is not None:
        message = f"{stopped.provider} rejected {ds.name} {request.key!r} as invalid"
        raise _fail(engine, ds, request, message, errors)
    answers, excluded = exclude_outliers(ds, answers)
    if len(answers) < min_providers:
        message = (
            f"{len(answers)} of {len(order)} providers answered {ds.name} {request.key!r} in "
            f"{region} ({len(excluded)} excluded as outliers); {min_providers} required"
        )
        raise _fail(engine, ds, request, message, errors)
    outcome = _merge(name, merger, ds, answers, options)
    return MergedResult(
        outcome.value,
        tuple(answer.provider for answer in answers),
        excluded=excluded,
        provenance=outcome.provenance,
        conflicts=outcome.conflicts,
        errors=tuple(errors),
        attempts=sum(gathered.calls),
        duration=clock.monotonic() - started,
        strategy=name,
    )
