"""Encoding of cached values: cattrs to JSON bytes with orjson, never pickle.

A value is unstructured by cattrs and dumped with orjson; decoding structures the bytes back
into the dataset's schema. A value that fails to decode is reported as ``None`` (a cache
miss), never an exception.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Final, TypeVar

import orjson
from cattrs.preconf.orjson import make_converter

__all__ = ["FORMAT_VERSION", "converter", "decode", "encode", "roundtrip"]

T = TypeVar("T")

FORMAT_VERSION: Final = 1
"""Bumped when the encoding changes, so old entries read as misses."""

converter: Final = make_converter(detailed_validation=False)
"""One converter for every cached value. Detailed validation (an exception group per field) is
off: a value that does not fit is a miss either way, and it costs about 10% of a decode."""
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda v, _: Decimal(str(v)))
# datetime is a subclass of date: its hooks must be registered after date's so they win.
converter.register_unstructure_hook(dt.date, dt.date.isoformat)
converter.register_structure_hook(
    dt.date, lambda v, _: v if isinstance(v, dt.date) else dt.date.fromisoformat(v)
)
converter.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
converter.register_structure_hook(
    dt.datetime, lambda v, _: v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(v)
)


def encode(value: Any) -> bytes:
    """Serialise an attrs value to JSON bytes."""
    return orjson.dumps(converter.unstructure(value))


_hooks: dict[type[Any], Any] = {}


def structure_hook(schema: type[T]) -> Any:
    """The converter's structure function for ``schema``, looked up once."""
    hook = _hooks.get(schema)
    if hook is None:
        hook = _hooks[schema] = converter.get_structure_hook(schema)
    return hook


def decode(data: bytes | str, schema: type[T]) -> T | None:
    """Structure JSON bytes into ``schema``; ``None`` when they do not fit."""
    try:
        return structure_hook(schema)(orjson.loads(data), schema)  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - any undecodable entry is a miss, whatever the cause
        return None


def roundtrip(value: T, schema: type[T]) -> T | None:
    """Encode then decode ``value``: what a shared cache tier would hand back."""
    return decode(encode(value), schema)
