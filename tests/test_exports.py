"""Public API guards: __all__ complete and sorted; every hookspec documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

import polysource
from polysource import hookspecs

MODULES = [
    "polysource",
    "polysource.errors",
    "polysource.models",
    "polysource.config",
    "polysource.datasets",
    "polysource.testing",
    "polysource.registry",
    "polysource.provider",
    "polysource.engine.merge",
    "polysource.engine.strategies",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolvable(name):
    """Each public module's __all__ is sorted and every name in it exists."""
    module = importlib.import_module(name)
    assert list(module.__all__) == sorted(module.__all__)
    for member in module.__all__:
        assert hasattr(module, member), f"{name}.{member} missing"


def test_root_exports_every_public_class_of_core_modules():
    """Public names of errors and models are re-exported from the package root."""
    from polysource import errors, models

    for module in (errors, models):
        for member in module.__all__:
            if member[0].isupper() and member not in {
                "TIERS",
                "Tier",
                "BreakerState",
                "ProviderStats",
            }:
                assert member in polysource.__all__, member


def test_version_is_lazy():
    """__version__ comes from the installed distribution metadata."""
    assert polysource.__version__


def _hookspec_names():
    return [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "polysource_spec")
    ]


@pytest.mark.parametrize("hook", _hookspec_names())
def test_every_hookspec_has_docstring_saying_when_called(hook):
    """Every hook's docstring says when it is called and documents its arguments."""
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "alled" in doc, f"{hook}: docstring must say when it is called"
    params = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    for param in params:
        assert f"{param}:" in doc, f"{hook}: argument {param} undocumented"
