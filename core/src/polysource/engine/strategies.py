"""The built-in merge strategies: pure functions of the answers, no I/O, no clock.

Each is registered by polysource's default plugin under its name in
[`BUILTIN_STRATEGIES`][polysource.engine.strategies.BUILTIN_STRATEGIES]:

- ``first`` ([`FirstStrategy`][polysource.engine.strategies.FirstStrategy]): the first answer,
whole.
- ``field_priority``
([`FieldPriorityStrategy`][polysource.engine.strategies.FieldPriorityStrategy]): each field from
the first provider, in
  that field's priority order, that has a value.
- ``median`` ([`MedianStrategy`][polysource.engine.strategies.MedianStrategy]): numeric fields are
the median of the answers.
- ``union`` ([`UnionStrategy`][polysource.engine.strategies.UnionStrategy]): list fields are
concatenated and de-duplicated by the
  dataset's ``merge_key``.
- ``consensus`` ([`ConsensusStrategy`][polysource.engine.strategies.ConsensusStrategy]): values
must agree (numbers within a tolerance);
  disagreements are reported in ``conflicts`` rather than silently resolved.

In every strategy ``None`` (and NaN) means "this provider does not publish the field": it
never outvotes a value, and a field no answer sets is left out of the provenance.
"""

from __future__ import annotations

import collections.abc
import math
import statistics
import typing
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, final

import attrs

from polysource.engine.merge import Answer, MergeOptions, MergeOutcome, MergeStrategy
from polysource.errors import InvalidRequest
from polysource.models import Dataset

__all__ = [
    "BUILTIN_STRATEGIES",
    "ConsensusStrategy",
    "FieldPriorityStrategy",
    "FirstStrategy",
    "MedianStrategy",
    "UnionStrategy",
]

# -- helpers shared by the built-ins -----------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _is_set(value: object) -> bool:
    """Whether a field holds a value (``None`` and NaN mean "not published")."""
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, Decimal):
        return not value.is_nan()
    return value is not None


def _fields(schema: type[Any]) -> tuple[attrs.Attribute[Any], ...]:
    if not attrs.has(schema):
        raise InvalidRequest(f"merging needs an attrs schema; {schema.__name__} is not one")
    return tuple(attribute for attribute in attrs.fields(schema) if attribute.init)


def _present(answers: Sequence[Answer], name: str) -> list[tuple[str, Any]]:
    """``(provider, value)`` of the answers in which field ``name`` is set, in answer order."""
    out: list[tuple[str, Any]] = []
    for answer in answers:
        value = getattr(answer.value, name)
        if _is_set(value):
            out.append((answer.provider, value))
    return out


def _build(schema: type[Any], base: Any, changes: Mapping[str, Any]) -> Any:
    """``base`` with ``changes`` applied, through the schema's constructor (converters run).

    ``attrs.evolve`` takes init names, which differ from field names for private fields.
    """
    aliases = {attribute.name: attribute.alias or attribute.name for attribute in _fields(schema)}
    return attrs.evolve(base, **{aliases[name]: value for name, value in changes.items()})


def _median(values: Sequence[Any]) -> Any:
    """The median, in the values' own type: ints stay ints (rounded), Decimals stay Decimals."""
    if any(isinstance(value, Decimal) for value in values):
        return statistics.median(Decimal(str(value)) for value in values)
    middle = statistics.median(values)
    if all(isinstance(value, int) for value in values):
        return round(middle)
    return float(middle)


def _agree(values: Sequence[Any], tolerance: float) -> bool:
    """Whether numbers lie within ``tolerance`` of each other, relative to the largest."""
    numbers = [float(value) for value in values]
    low, high = min(numbers), max(numbers)
    return high - low <= tolerance * max(abs(low), abs(high))


def _ordered(answers: Sequence[Answer], preferred: Sequence[str]) -> list[Answer]:
    """The answers of ``preferred`` providers in that order, then the others in answer order."""
    if not preferred:
        return list(answers)
    by_provider = {answer.provider: answer for answer in answers}
    first = [by_provider[name] for name in dict.fromkeys(preferred) if name in by_provider]
    chosen = {answer.provider for answer in first}
    return first + [answer for answer in answers if answer.provider not in chosen]


# -- the built-in strategies -------------------------------------------------------------------


@final
class FirstStrategy:
    """``first``: the first answer in failover order, whole; the others are ignored."""

    def merge(
        self, dataset: Dataset[Any], answers: Sequence[Answer], options: MergeOptions
    ) -> MergeOutcome:
        """Return the first answer."""
        first = answers[0]
        provenance = {
            attribute.name: (first.provider,)
            for attribute in _fields(dataset.schema)
            if _is_set(getattr(first.value, attribute.name))
        }
        return MergeOutcome(first.value, provenance)


@final
class FieldPriorityStrategy:
    """``field_priority``: each field from the first provider, in its priority, that has it.

    A field's order is ``options.field_priority[field]`` followed by the remaining providers in
    failover order; a field not listed follows the failover order. ``None`` counts as "not
    published", so a field is filled by the next provider that has it.
    """

    def merge(
        self, dataset: Dataset[Any], answers: Sequence[Answer], options: MergeOptions
    ) -> MergeOutcome:
        """Pick each field from the most trusted provider that set it."""
        changes: dict[str, Any] = {}
        provenance: dict[str, tuple[str, ...]] = {}
        for attribute in _fields(dataset.schema):
            name = attribute.name
            order = _ordered(answers, options.field_priority.get(name, ()))
            for answer in order:
                value = getattr(answer.value, name)
                if _is_set(value):
                    changes[name] = value
                    provenance[name] = (answer.provider,)
                    break
        return MergeOutcome(_build(dataset.schema, answers[0].value, changes), provenance)


@final
class MedianStrategy:
    """``median``: numeric fields are the median of the answers that set them.

    Ints stay ints (the median is rounded) and Decimals stay Decimals. A field whose values are
    not all numbers is taken from the first answer that sets it.
    """

    def merge(
        self, dataset: Dataset[Any], answers: Sequence[Answer], options: MergeOptions
    ) -> MergeOutcome:
        """Take the median of each numeric field."""
        changes: dict[str, Any] = {}
        provenance: dict[str, tuple[str, ...]] = {}
        for attribute in _fields(dataset.schema):
            present = _present(answers, attribute.name)
            if not present:
                continue
            values = [value for _, value in present]
            if all(_is_number(value) for value in values):
                changes[attribute.name] = _median(values)
                provenance[attribute.name] = tuple(provider for provider, _ in present)
            else:
                changes[attribute.name] = values[0]
                provenance[attribute.name] = (present[0][0],)
        return MergeOutcome(_build(dataset.schema, answers[0].value, changes), provenance)


@final
class ConsensusStrategy:
    """``consensus``: cross-provider validation; disagreements are reported, not hidden.

    For each field, the answers that set it must agree: numbers within ``options.tolerance``
    of each other (relative to the larger magnitude), anything else exactly. Agreeing numbers
    become their median; an agreeing value is kept. On a disagreement the value of the first
    answer that sets the field is kept and every provider's value is listed in ``conflicts``.
    """

    def merge(
        self, dataset: Dataset[Any], answers: Sequence[Answer], options: MergeOptions
    ) -> MergeOutcome:
        """Validate each field across the answers."""
        changes: dict[str, Any] = {}
        provenance: dict[str, tuple[str, ...]] = {}
        conflicts: dict[str, Mapping[str, Any]] = {}
        for attribute in _fields(dataset.schema):
            name = attribute.name
            present = _present(answers, name)
            if not present:
                continue
            values = [value for _, value in present]
            numeric = all(_is_number(value) for value in values)
            if numeric:
                agreed = _agree(values, options.tolerance)
            else:
                agreed = all(value == values[0] for value in values[1:])
            if agreed:
                changes[name] = _median(values) if numeric else values[0]
                provenance[name] = tuple(provider for provider, _ in present)
            else:
                changes[name] = values[0]
                provenance[name] = (present[0][0],)
                conflicts[name] = dict(present)
        merged = _build(dataset.schema, answers[0].value, changes)
        return MergeOutcome(merged, provenance, conflicts)


def _merge_key(dataset: Dataset[Any]) -> str:
    if dataset.merge_key is None:
        raise InvalidRequest(
            f"dataset {dataset.name!r} has no merge_key, which the 'union' strategy needs to "
            "tell items apart"
        )
    return dataset.merge_key


def _has_member(cls: type[Any], name: str) -> bool:
    return (attrs.has(cls) and name in attrs.fields_dict(cls)) or hasattr(cls, name)


def _declared_keyed_fields(schema: type[Any], merge_key: str) -> tuple[str, ...] | None:
    """Fields typed as a sequence of items that have ``merge_key``; ``None`` if unknowable."""
    try:
        hints = typing.get_type_hints(schema)
    except Exception:  # noqa: BLE001 - annotations that do not resolve: look at values instead
        return None
    out: list[str] = []
    for attribute in _fields(schema):
        hint = hints.get(attribute.name)
        origin = typing.get_origin(hint)
        if origin not in (tuple, list, collections.abc.Sequence):
            continue
        args = typing.get_args(hint)
        if args and isinstance(args[0], type) and _has_member(args[0], merge_key):
            out.append(attribute.name)
    return tuple(out)


def _observed_keyed_fields(
    schema: type[Any], merge_key: str, answers: Sequence[Answer]
) -> tuple[str, ...]:
    """Fields whose values, in some answer, are sequences of items that have ``merge_key``."""
    out: list[str] = []
    for attribute in _fields(schema):
        for answer in answers:
            items = getattr(answer.value, attribute.name)
            if isinstance(items, tuple | list) and any(hasattr(i, merge_key) for i in items):
                out.append(attribute.name)
                break
    return tuple(out)


def _no_keyed_field(dataset: Dataset[Any], merge_key: str) -> InvalidRequest:
    return InvalidRequest(
        f"dataset {dataset.name!r}: no field of {dataset.schema.__name__} is a list of items "
        f"with the merge_key {merge_key!r}, so the 'union' strategy has nothing to merge"
    )


@final
class UnionStrategy:
    """``union``: list fields concatenated in failover order, de-duplicated by ``merge_key``.

    The list fields are those holding items with the dataset's ``merge_key`` attribute (the
    ``transactions`` of [`Transactions`][polysource.datasets.Transactions], keyed by
    ``transaction_id``). For each key the first occurrence, in failover order, is kept; items
    without a key are all kept. Every other field comes from the first answer.
    """

    def check(self, dataset: Dataset[Any]) -> None:
        """Reject a dataset without ``merge_key`` or without a list of keyed items."""
        merge_key = _merge_key(dataset)
        if _declared_keyed_fields(dataset.schema, merge_key) == ():
            raise _no_keyed_field(dataset, merge_key)

    def merge(
        self, dataset: Dataset[Any], answers: Sequence[Answer], options: MergeOptions
    ) -> MergeOutcome:
        """Concatenate and de-duplicate the keyed list fields."""
        merge_key = _merge_key(dataset)
        keyed: tuple[str, ...] | None = _declared_keyed_fields(dataset.schema, merge_key)
        if keyed is None:
            keyed = _observed_keyed_fields(dataset.schema, merge_key, answers)
        elif not keyed:
            raise _no_keyed_field(dataset, merge_key)
        first = answers[0]
        provenance: dict[str, tuple[str, ...]] = {
            attribute.name: (first.provider,)
            for attribute in _fields(dataset.schema)
            if attribute.name not in keyed and _is_set(getattr(first.value, attribute.name))
        }
        changes: dict[str, Any] = {}
        for name in keyed:
            items, contributors = _union(answers, name, merge_key)
            original = getattr(first.value, name)
            changes[name] = items if isinstance(original, list) else tuple(items)
            if contributors:
                provenance[name] = contributors
        return MergeOutcome(_build(dataset.schema, first.value, changes), provenance)


def _union(
    answers: Sequence[Answer], name: str, merge_key: str
) -> tuple[list[Any], tuple[str, ...]]:
    """The items of field ``name`` across answers, first occurrence per key, and who gave them."""
    seen: set[Any] = set()
    items: list[Any] = []
    contributors: list[str] = []
    for answer in answers:
        added = False
        for item in getattr(answer.value, name) or ():
            key = getattr(item, merge_key, None)
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            items.append(item)
            added = True
        if added:
            contributors.append(answer.provider)
    return items, tuple(contributors)


BUILTIN_STRATEGIES: Final[Mapping[str, MergeStrategy]] = {
    "first": FirstStrategy(),
    "field_priority": FieldPriorityStrategy(),
    "median": MedianStrategy(),
    "union": UnionStrategy(),
    "consensus": ConsensusStrategy(),
}
"""The strategies polysource registers itself, by name."""
