"""Public names: each module's ``__all__`` is sorted and names what exists."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "polysource_otel",
    "polysource_otel.http",
    "polysource_otel.tracing",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    """Every name in ``__all__`` exists, in sorted order, and public classes are listed."""
    module = importlib.import_module(name)
    assert list(module.__all__) == sorted(module.__all__)
    for member in module.__all__:
        assert hasattr(module, member), member
    defined = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and isinstance(value, type)
        and value.__module__ == module.__name__
    }
    assert defined <= set(module.__all__)
