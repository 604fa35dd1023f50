"""Checks of a request's own input, run before any cache tier, fleet or provider is asked.

A key (and a region, which becomes part of every cache key) has one alphabet and one length
limit, the same for every cache tier: any Unicode character except the control characters
(``U+0000``-``U+001F``, ``U+007F``-``U+009F``, NUL included) and lone surrogates (which UTF-8
cannot encode), at least one character that is not white space, and at most
[`MAX_KEY_BYTES`][polysource.validation.MAX_KEY_BYTES] bytes in UTF-8. A value outside it raises
[`InvalidRequest`][polysource.errors.InvalidRequest] here, so one caller's odd input never reaches
(and
never detaches) a shared tier.

Error messages quote at most a short, escaped prefix of a bad value
([`excerpt()`][polysource.validation.excerpt]).
"""

from __future__ import annotations

import unicodedata
from typing import Final

from polysource.errors import InvalidRequest

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_REGION_BYTES",
    "check_key",
    "check_region",
    "excerpt",
    "is_plain_key",
]

MAX_KEY_BYTES: Final = 512
"""The longest key, in UTF-8 bytes."""

MAX_REGION_BYTES: Final = 64
"""The longest region name, in UTF-8 bytes."""

_EXCERPT: Final = 32
_BANNED: Final = frozenset({"Cc", "Cs"})


def excerpt(value: object, limit: int = _EXCERPT) -> str:
    """A short, escaped rendering of ``value`` for an error message.

    A string is quoted with its non-printable characters escaped and cut after ``limit``
    characters (with its full length); anything else is named by its type.
    """
    if not isinstance(value, str):
        return f"a {type(value).__name__}"
    shown = repr(value[:limit])
    if len(value) > limit:
        return f"{shown}... ({len(value)} characters)"
    return shown


def _problem(value: str, limit: int, blank: bool = False) -> str | None:
    """What is wrong with ``value`` as a key or region, or ``None``."""
    too_long = f"is longer than {limit} bytes in UTF-8"
    if len(value) > limit:  # a character is at least one byte: no need to look further
        return too_long
    if not value.isprintable():
        for char in value:
            if unicodedata.category(char) in _BANNED:
                return f"has the control character U+{ord(char):04X}"
    if not value.isascii() and len(value.encode("utf-8")) > limit:
        return too_long
    if not blank and not value.strip():
        return "is empty or blank"
    return None


def is_plain_key(key: object) -> bool:
    """Whether ``key`` is a printable ASCII key within the limit: the common case, in C.

    ``False`` does not make a key invalid; [`check_key()`][polysource.validation.check_key] says
    whether it is.
    """
    return (
        isinstance(key, str)
        and key.isascii()
        and key.isprintable()
        and len(key) <= MAX_KEY_BYTES
        and not key.isspace()
        and key != ""
    )


def check_key(
    key: object, what: str = "key", limit: int = MAX_KEY_BYTES, *, blank: bool = False
) -> str:
    """Return ``key`` if it is a valid key; raise ``InvalidRequest`` naming the problem.

    Args:
        key: The caller's key.
        what: How the message names it (``"key of dataset 'quote'"``).
        limit: The longest value in UTF-8 bytes.
        blank: Accept an empty or blank value (a parameter that is not a key on its own).
    """
    if not isinstance(key, str):
        raise InvalidRequest(f"{what} must be a string, not {excerpt(key)}")
    problem = _problem(key, limit, blank)
    if problem is not None:
        raise InvalidRequest(f"{what} {excerpt(key)} {problem}")
    return key


def check_region(region: object) -> str | None:
    """Return ``region`` (``None`` for the default) if valid; raise ``InvalidRequest``."""
    if region is None:
        return None
    return check_key(region, "region", MAX_REGION_BYTES)
