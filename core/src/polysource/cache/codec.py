"""Encoding of cached values: cattrs to JSON bytes with orjson, never pickle.

A value is unstructured by cattrs and dumped with orjson; decoding structures the bytes back
into the dataset's schema with type checks: every field must hold the JSON type its schema
declares (nested classes, lists of them, optional fields, dates, Decimals included). A value
that fails to decode is reported as ``None`` (a cache miss), never an exception.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import re
import types
import typing
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any, Final, TypeVar

import attrs
import orjson
from cattrs import ClassValidationError, Converter, IterableValidationError, transform_error
from cattrs.errors import IterableValidationNote
from cattrs.preconf.orjson import make_converter

from polysource.config import Secret

__all__ = [
    "FORMAT_VERSION",
    "builder",
    "converter",
    "params_converter",
    "decode",
    "encode",
    "problem",
    "roundtrip",
    "structurer",
]

T = TypeVar("T")

FORMAT_VERSION: Final = 1
"""Bumped when the encoding changes, so old entries read as misses."""

converter: Final = make_converter(detailed_validation=False)
"""One converter for every cached value, strict about JSON types (see
[`_strict()`][polysource.cache.codec._strict]).

Detailed validation (an exception group per field) is off on the decode path: a value that
does not fit is a miss either way. [`problem()`][polysource.cache.codec.problem] says where a
rejected value went wrong."""

_explainer: Final = make_converter(detailed_validation=True)
"""The same hooks with detailed validation: used only to explain a rejected value."""

Structurer = Callable[[Any], Any]
"""A structure function: the unstructured value in, the schema's instance out."""

_structurers: dict[Any, Structurer] = {}

_SEQUENCES: Final = {
    tuple: tuple,
    list: list,
    set: set,
    frozenset: frozenset,
    Sequence: tuple,
    MutableSequence: list,
    AbstractSet: frozenset,
}
_MAPPINGS: Final = frozenset({dict, Mapping, MutableMapping})


def _exact(kind: type[Any]) -> Callable[[Any, Any], Any]:
    """A hook taking only ``kind`` itself: JSON gives ``bool`` for ``true``, never for ``1``,
    and a string is never a number."""

    def structure(value: Any, _: Any) -> Any:
        if value.__class__ is kind:
            return value
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")

    return structure


def _float(value: Any, _: Any) -> float:
    """A float, or an int widened to one (``bool`` and ``"1.5"`` are neither)."""
    cls = value.__class__
    if cls is float:
        return value  # type: ignore[no-any-return]
    if cls is int:
        return float(value)
    raise TypeError(f"expected float, got {type(value).__name__}")


def _text(value: Any) -> str:
    if value.__class__ is not str:
        raise TypeError(f"expected str, got {type(value).__name__}")
    return value


_DECIMAL_TEXT: Final = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,40})?")
"""What ``str(Decimal)`` writes for an amount: digits, one point, a sign; no exponent, no
spaces or underscores (``Decimal`` would read ``"1E+999999999"``, a value that exhausts
memory when formatted)."""


def _decimal(value: Any, _: Any) -> Decimal:
    """A Decimal from the plain string the encoder wrote for an amount."""
    text = _text(value)
    if _DECIMAL_TEXT.fullmatch(text) is None:
        raise ValueError("expected a plain decimal number")
    return Decimal(text)


def _decimal_text(number: Decimal) -> str:
    """An amount as plain digits (``str`` would write ``1E-8``), within
    [`_DECIMAL_TEXT`][polysource.cache.codec._DECIMAL_TEXT]."""
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or abs(number.adjusted()) >= 40 or exponent < -40:
        raise ValueError("an amount outside 40 digits each side of the point is not cached")
    return f"{number:f}"


def _date(value: Any, _: Any) -> dt.date:
    return dt.date.fromisoformat(_text(value))


def _datetime(value: Any, _: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(_text(value))


_PRIMITIVES: Final[dict[type[Any], Callable[[Any, Any], Any]]] = {
    str: _exact(str),
    int: _exact(int),
    bool: _exact(bool),
    float: _float,
}


def _optional(hint: Any) -> Any:
    """``X`` when ``hint`` is ``X | None``, else ``None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if len(args) == 2 and type(None) in args:
            return args[0] if args[1] is type(None) else args[1]
    return None


def _is_optional_primitive(hint: Any) -> bool:
    return _optional(hint) in _PRIMITIVES


def _optional_primitive(hint: Any) -> Callable[[Any, Any], Any]:
    """``None`` or the primitive, in one call (cattrs' optional hook would make two)."""
    inner = _optional(hint)
    if inner is float:

        def structure_float(value: Any, _: Any) -> Any:
            cls = value.__class__
            if cls is float or value is None:
                return value
            if cls is int:
                return float(value)
            raise TypeError(f"expected float or null, got {type(value).__name__}")

        return structure_float

    def structure(value: Any, _: Any, kind: type[Any] = inner) -> Any:
        if value is None or value.__class__ is kind:
            return value
        raise TypeError(f"expected {kind.__name__} or null, got {type(value).__name__}")

    return structure


def _is_sequence(hint: Any) -> bool:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    return origin in _SEQUENCES and (
        len(args) == 1 or (origin is tuple and len(args) == 2 and args[1] is Ellipsis)
    )


def _sequence_hook(conv: Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """Sequences only from JSON arrays: a string or an object is not a list of items."""

    def factory(hint: Any) -> Callable[[Any, Any], Any]:
        item = typing.get_args(hint)[0]
        make = _SEQUENCES[typing.get_origin(hint)]
        each = conv.get_structure_hook(item)

        def structure(value: Any, _: Any) -> Any:
            if value.__class__ is not list:
                raise TypeError(f"expected a list, got {type(value).__name__}")
            return make([each(x, item) for x in value])

        def structure_detailed(value: Any, _: Any) -> Any:
            if value.__class__ is not list:
                raise TypeError(f"expected a list, got {type(value).__name__}")
            errors = []
            for index, x in enumerate(value):
                try:
                    each(x, item)
                except Exception as exc:  # noqa: BLE001 - collected, raised as one group
                    note = IterableValidationNote(f"item {index}", index, item)
                    exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                    errors.append(exc)
            if errors:
                raise IterableValidationError(f"while structuring {hint!r}", errors, hint)
            return structure(value, _)

        return structure_detailed if conv.detailed_validation else structure

    return factory


def _object_hook(conv: Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """attrs classes only from JSON objects (cattrs' generated function checks ``"f" in o``,
    which a string answers too)."""

    def factory(schema: Any) -> Callable[[Any, Any], Any]:
        build = conv.gen_structure_attrs_fromdict(schema)

        def structure(value: Any, _: Any) -> Any:
            if value.__class__ is not dict:
                raise TypeError(f"expected an object, got {type(value).__name__}")
            return build(value, schema)

        return structure

    return factory


def _is_mapping(hint: Any) -> bool:
    return typing.get_origin(hint) in _MAPPINGS and len(typing.get_args(hint)) == 2


def _mapping_hook(conv: Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """Mappings only from JSON objects."""

    def factory(hint: Any) -> Callable[[Any, Any], Any]:
        key_type, value_type = typing.get_args(hint)
        key = conv.get_structure_hook(key_type)
        each = conv.get_structure_hook(value_type)

        def structure(value: Any, _: Any) -> Any:
            if value.__class__ is not dict:
                raise TypeError(f"expected an object, got {type(value).__name__}")
            return {key(k, key_type): each(v, value_type) for k, v in value.items()}

        return structure

    return factory


def _strict(conv: Converter) -> None:
    """Make ``conv`` reject values of the wrong JSON type instead of converting them.

    cattrs' default hooks call ``float(v)``, ``str(v)``, ``int(v)``: ``"1.5"`` would become a
    price, ``true`` a volume of 1, and a string a tuple of its characters. Here each field
    takes only the JSON type its schema declares (an int widens to a float); dates, datetimes
    and Decimals only from the strings the encoder writes.
    """
    conv.register_unstructure_hook(Decimal, _decimal_text)
    conv.register_structure_hook(Decimal, _decimal)
    # datetime is a subclass of date: its hooks must be registered after date's so they win.
    conv.register_unstructure_hook(dt.date, dt.date.isoformat)
    conv.register_structure_hook(dt.date, _date)
    conv.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
    conv.register_structure_hook(dt.datetime, _datetime)
    for kind, hook in _PRIMITIVES.items():
        conv.register_structure_hook(kind, hook)
    conv.register_structure_hook_factory(_is_optional_primitive, _optional_primitive)
    conv.register_structure_hook_factory(_is_sequence, _sequence_hook(conv))
    conv.register_structure_hook_factory(_is_mapping, _mapping_hook(conv))
    conv.register_structure_hook_factory(attrs.has, _object_hook(conv))
    # After the attrs factory, so that it wins for Secret (an attrs class too).
    conv.register_structure_hook_factory(lambda hint: hint is Secret, lambda _: _secret)
    conv.register_unstructure_hook(Secret, _no_secret)


def _secret(value: Any, _: Any) -> Secret:
    """A secret parameter only from a plain string.

    Parameters come from callers (a gateway passes them from request bodies): structured as
    an attrs class, ``{"env": "NAME"}`` or ``{"file": "path"}`` would make the process read
    its own environment or files into a request.
    """
    if value.__class__ is not str:
        raise TypeError(f"a secret is written as a string, not {type(value).__name__}")
    return Secret.of(value)


def _no_secret(_: Secret) -> Any:
    """Secrets are never encoded: a cache record or a log of one would hold the plain value."""
    raise TypeError("a Secret is not encoded")


_strict(converter)
_strict(_explainer)

params_converter: Final = make_converter(detailed_validation=True, forbid_extra_keys=True)
"""The same strict hooks for operation parameters a caller passes as a mapping: a field of
the wrong JSON type or an unknown field is an error, and a secret comes only from a string."""
_strict(params_converter)


def encode(value: Any) -> bytes:
    """Serialise an attrs value to JSON bytes."""
    return orjson.dumps(converter.unstructure(value))


def structurer(schema: Any) -> Structurer:
    """The structure function for ``schema`` (cattrs' hook, looked up once).

    It raises on a value that does not fit (a missing required field, a value of another JSON
    type than the field declares, a list where an object belongs, a date that does not
    parse); callers turn that into a miss.
    """
    found = _structurers.get(schema)
    if found is None:
        hook = converter.get_structure_hook(schema)

        def structure(value: Any) -> Any:
            return hook(value, schema)

        found = _structurers[schema] = structure
    return found


def problem(value: Any, schema: Any) -> str | None:
    """Where an unstructured value does not fit ``schema`` (``None`` if it does).

    For events about rejected cache records: field paths and error types only, never the
    values themselves (a record may hold private data).
    """
    try:
        _explainer.structure(value, schema)
    except Exception as exc:  # noqa: BLE001 - any failure is described, none is raised
        if isinstance(exc, ClassValidationError | IterableValidationError):
            found = transform_error(exc, format_exception=_error_name)
            return "; ".join(found[:3])
        return type(exc).__name__
    return None


def _error_name(exc: BaseException, _: Any) -> str:
    return "missing" if isinstance(exc, KeyError) else type(exc).__name__


def _slot_setters(schema: type[Any]) -> dict[str, Callable[[Any, Any], None]] | None:
    """Each field's slot setter, when the class's ``__init__`` would only set its slots.

    That is a slotted class with attrs' own ``__init__``, no converter, validator, pre- or
    post-init hook, and no slot but its fields (no cached hash): then setting the slots
    builds the same object, and skips the frozen class's ``object.__setattr__`` per field,
    about a third of the time it takes to build a quote. Otherwise ``None``: call the class.
    """
    init = schema.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    if (
        code is None
        or not code.co_filename.startswith("<attrs generated")
        or any("__new__" in vars(klass) for klass in schema.__mro__[:-1])
        or hasattr(schema, "__attrs_pre_init__")
        or hasattr(schema, "__attrs_post_init__")
    ):
        return None
    fields = attrs.fields(schema)
    if any(f.converter is not None or f.validator is not None or not f.init for f in fields):
        return None
    bases = schema.__mro__[:-1]  # all but object
    if not all("__slots__" in klass.__dict__ for klass in bases):
        return None  # instances have a __dict__
    slots = {slot for klass in bases for slot in vars(klass)["__slots__"] if slot != "__weakref__"}
    if slots != {field.name for field in fields}:
        return None
    setters = {}
    for field in fields:
        descriptor = inspect.getattr_static(schema, field.name)
        if type(descriptor) is not types.MemberDescriptorType:
            return None
        setters[field.name] = descriptor.__set__
    return setters


def builder(schema: type[T], names: Sequence[str], **fixed: Any) -> Callable[..., T]:
    """A function building ``schema`` from the fields ``names`` (positional, in that order).

    Fields not in ``names`` take ``fixed[name]``, else their default (a factory default is not
    supported). For a class whose ``__init__`` only sets its slots (see
    [`_slot_setters()`][polysource.cache.codec._slot_setters]) the slots are filled directly, about
    half the cost of the call
    for a frozen class of a dozen fields; otherwise the class is called.
    """
    fields = {f.name: f for f in attrs.fields(typing.cast("Any", schema)) if f.init}
    values: dict[str, str] = {}
    namespace: dict[str, Any] = {"__cl": schema, "__new": object.__new__}
    counter = itertools.count()
    for name, field in fields.items():
        if name in names:
            values[name] = f"a{names.index(name)}"
        elif name in fixed:
            values[name] = _constant(fixed[name], namespace, counter)
        elif field.default is attrs.NOTHING or isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            raise TypeError(f"{schema.__name__}.{name} needs a value")
        else:
            values[name] = _constant(field.default, namespace, counter)
    setters = _slot_setters(schema)
    parameters = ", ".join(f"a{i}" for i in range(len(names)))
    if setters is None:
        arguments = ", ".join(f"{fields[name].alias}={value}" for name, value in values.items())
        body = f"    return __cl({arguments})\n"
    else:
        sets = "".join(
            f"    {_global(setters[name], namespace, counter)}(i, {value})\n"
            for name, value in values.items()
        )
        body = f"    i = __new(__cl)\n{sets}    return i\n"
    source = f"def build({parameters}):\n{body}"
    code = compile(source, f"<polysource build {schema.__qualname__}>", "exec")
    exec(code, namespace)  # noqa: S102 - source built above from the class's own fields
    build: Callable[..., T] = namespace["build"]
    return build


def _global(value: Any, namespace: dict[str, Any], counter: Any) -> str:
    name = f"__g{next(counter)}"
    namespace[name] = value
    return name


def _constant(value: Any, namespace: dict[str, Any], counter: Any) -> str:
    if value is None or value is True or value is False:
        return repr(value)
    return _global(value, namespace, counter)


def decode(data: bytes | str, schema: type[T]) -> T | None:
    """Structure JSON bytes into ``schema``; ``None`` when they do not fit."""
    try:
        return structurer(schema)(orjson.loads(data))  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - any undecodable entry is a miss, whatever the cause
        return None


def roundtrip(value: T, schema: type[T]) -> T | None:
    """Encode then decode ``value``: what a shared cache tier would hand back."""
    return decode(encode(value), schema)
