"""Encoding of cached values: cattrs to JSON bytes with orjson, never pickle.

A value is unstructured by cattrs and dumped with orjson; decoding structures the bytes back
into the dataset's schema. A value that fails to decode is reported as ``None`` (a cache
miss), never an exception.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import types
import typing
from collections.abc import Callable, MutableSequence, Sequence
from decimal import Decimal
from typing import Any, Final, TypeVar

import attrs
import orjson
from cattrs.preconf.orjson import make_converter

__all__ = [
    "FORMAT_VERSION",
    "builder",
    "converter",
    "decode",
    "encode",
    "roundtrip",
    "structurer",
]

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


Structurer = Callable[[Any], Any]
"""A compiled structure function: the unstructured value in, the schema's instance out."""

_structurers: dict[Any, Structurer] = {}
_compiling: set[type[Any]] = set()

# Types whose values orjson hands back as they were stored (the encoder wrote them as is).
_TRUSTED: Final = frozenset({str, int, float, bool, type(None), Any})
_MISSING: Final = object()
_SEQUENCES: Final = {
    tuple: tuple,
    list: list,
    set: set,
    frozenset: frozenset,
    Sequence: tuple,
    MutableSequence: list,
}


def structurer(schema: Any) -> Structurer:
    """The structure function for ``schema``, built once (see :func:`_compile`).

    It raises on a value that does not fit (a missing required field, a list where an object
    belongs, a date that does not parse); callers turn that into a miss.
    """
    found = _structurers.get(schema)
    if found is None:
        found = _structurers[schema] = _build(schema)
    return found


def _build(schema: Any) -> Structurer:
    if attrs.has(schema) and isinstance(schema, type) and schema not in _compiling:
        _compiling.add(schema)
        try:
            return _compile(schema)
        except (NameError, TypeError):  # a forward reference or a shape the compiler skips
            pass
        finally:
            _compiling.discard(schema)
    hook = converter.get_structure_hook(schema)

    def structure(value: Any) -> Any:
        return hook(value, schema)

    return structure


def _compile(schema: type[Any]) -> Structurer:
    """Compile the structure function of an attrs class from source made for its fields.

    cattrs' generated functions call a hook per field (``float(v)``, ``str(v)``, a union hook
    for each ``X | None``) and build a keyword dict for the optional fields; for a 12-field
    quote that is most of a decode. Here the encoder is cattrs on the same schemas, so orjson
    already hands back ``str``, ``int``, ``float``, ``bool`` and ``None`` as they were stored:
    those values pass as they are, positionally, straight into the class. Nested attrs classes
    and sequences of them are compiled the same way; every other type (datetime, date,
    Decimal, enums, ...) is structured by the converter's own hook, so cattrs stays the
    engine for what needs converting. A missing required field, an object or list of the
    wrong shape, or a value the class or a hook rejects raises, which callers read as a miss.
    """
    hints = typing.get_type_hints(schema)
    namespace: dict[str, Any] = {"__cl": schema, "__new": object.__new__, "_MISSING": _MISSING}
    counter = itertools.count()
    fields = [field for field in attrs.fields(schema) if field.init]
    setters = _slot_setters(schema)
    bodies = []
    for every_key in (True, False):
        lines: list[str] = []
        values = [
            _argument(f, hints.get(f.name, Any), f"v{i}", namespace, lines, counter, every_key)
            for i, f in enumerate(fields)
        ]
        if every_key and setters is not None:
            lines.append("i = __new(__cl)")
            for field, value in zip(fields, values, strict=True):
                lines.append(f"{_global(setters[field.name], namespace, counter)}(i, {value})")
            lines.append("return i")
        else:
            arguments = (
                f"{field.alias}={value}" if field.kw_only else value
                for field, value in zip(fields, values, strict=True)
            )
            lines.append(f"return __cl({', '.join(arguments)})")
        bodies.append(lines)
    every = "".join(f"        {line}\n" for line in bodies[0])
    some = "".join(f"    {line}\n" for line in bodies[1])
    # The encoder writes every field, so the first body (only ``o[key]``, cheaper than
    # ``o.get``) answers; a record without some defaulted field takes the second.
    source = f"def structure(o):\n    try:\n{every}    except KeyError:\n        pass\n{some}"
    code = compile(source, f"<polysource structure {schema.__qualname__}>", "exec")
    exec(code, namespace)  # noqa: S102 - source built above from the schema's own fields
    structure: Structurer = namespace["structure"]
    return structure


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


def _argument(
    field: attrs.Attribute[Any],
    hint: Any,
    name: str,
    namespace: dict[str, Any],
    lines: list[str],
    counter: itertools.count[int],
    every_key: bool,
) -> str:
    """The call argument for ``field``, adding any statements it needs to ``lines``.

    With ``every_key`` the field's key is taken to be present (a ``KeyError`` otherwise).
    """
    key = repr(field.name)
    default = attrs.NOTHING if every_key else field.default
    optional, inner = _optional(hint)
    convert = _expression(inner, name, namespace, counter)
    if convert == name:  # a trusted value: no conversion, one dict lookup
        if default is attrs.NOTHING:
            return f"o[{key}]"
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            return f"(o[{key}] if {key} in o else {_factory(default, namespace, counter)})"
        return f"o.get({key}, {_constant(default, namespace, counter)})"
    if optional:
        convert = f"(None if {name} is None else {convert})"
    if default is attrs.NOTHING:
        lines.append(f"{name} = o[{key}]")
        return convert
    if default is None and optional:
        lines.append(f"{name} = o.get({key})")
        return convert
    lines.append(f"{name} = o.get({key}, _MISSING)")
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        fallback = _factory(default, namespace, counter)
    else:
        fallback = _constant(default, namespace, counter)
    return f"({fallback} if {name} is _MISSING else {convert})"


def builder(schema: type[T], names: Sequence[str], **fixed: Any) -> Callable[..., T]:
    """A function building ``schema`` from the fields ``names`` (positional, in that order).

    Fields not in ``names`` take ``fixed[name]``, else their default (a factory default is not
    supported). For a class whose ``__init__`` only sets its slots (see
    :func:`_slot_setters`) the slots are filled directly, about half the cost of the call
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


def _expression(hint: Any, name: str, namespace: dict[str, Any], counter: Any) -> str:
    """Python source turning the unstructured value in variable ``name`` into ``hint``."""
    if hint in _TRUSTED:
        return name
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    optional, inner = _optional(hint)
    if optional:
        convert = _expression(inner, name, namespace, counter)
        return name if convert == name else f"(None if {name} is None else {convert})"
    if attrs.has(hint) and isinstance(hint, type) and hint not in _compiling:
        return f"{_global(structurer(hint), namespace, counter)}({name})"
    container = _SEQUENCES.get(origin)
    if container is not None and (
        len(args) == 1 or (origin is tuple and len(args) == 2 and args[1] is Ellipsis)
    ):
        items = f"{_global(_items, namespace, counter)}({name})"
        each = _expression(args[0], "x", namespace, counter)
        make = _global(container, namespace, counter)
        if each == "x":
            return f"{make}({items})"
        return f"{make}([{each} for x in {items}])"
    if origin is dict and all(arg in _TRUSTED for arg in args):
        return f"{_global(_mapping, namespace, counter)}({name})"
    hook = _global(converter.get_structure_hook(hint), namespace, counter)
    return f"{hook}({name}, {_global(hint, namespace, counter)})"


def _optional(hint: Any) -> tuple[bool, Any]:
    """Whether ``hint`` is ``X | None``, and ``X``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if len(args) == 2 and type(None) in args:
            return True, args[0] if args[1] is type(None) else args[1]
    return False, hint


def _items(value: Any) -> list[Any]:
    """``value`` if it is a JSON array; a string or an object is not a sequence here."""
    if value.__class__ is not list:
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _mapping(value: Any) -> dict[Any, Any]:
    """A copy of ``value`` if it is a JSON object."""
    if value.__class__ is not dict:
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return dict(value)


def _global(value: Any, namespace: dict[str, Any], counter: Any) -> str:
    name = f"__g{next(counter)}"
    namespace[name] = value
    return name


def _constant(value: Any, namespace: dict[str, Any], counter: Any) -> str:
    if value is None or value is True or value is False:
        return repr(value)
    return _global(value, namespace, counter)


def _factory(default: Any, namespace: dict[str, Any], counter: Any) -> str:
    if default.takes_self:
        raise TypeError("a factory that takes self")  # cattrs handles it
    return f"{_global(default.factory, namespace, counter)}()"


def decode(data: bytes | str, schema: type[T]) -> T | None:
    """Structure JSON bytes into ``schema``; ``None`` when they do not fit."""
    try:
        return structurer(schema)(orjson.loads(data))  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - any undecodable entry is a miss, whatever the cause
        return None


def roundtrip(value: T, schema: type[T]) -> T | None:
    """Encode then decode ``value``: what a shared cache tier would hand back."""
    return decode(encode(value), schema)
