"""The distribution's entry point loads and registers the backend's URL schemes."""

from __future__ import annotations

import importlib.metadata

import polysource_redis
from polysource.cache.tiers import BackendContext, CacheBackend
from polysource.clock import SystemClock
from polysource.registry import CacheBackendRegistrar
from polysource_redis import RedisBackend


def _load():
    (entry,) = [e for e in importlib.metadata.entry_points(group="polysource") if e.name == "redis"]
    return entry.load()


def test_entry_point_names_this_module() -> None:
    """The ``redis`` entry point of the ``polysource`` group loads ``polysource_redis``."""
    assert _load() is polysource_redis


async def test_registered_factory_builds_a_backend_from_url_and_context() -> None:
    """Each scheme maps to a factory ``(url, context)`` whose timeouts follow the context."""
    registrar = CacheBackendRegistrar("cache backend")
    _load().register_cache_backends(registrar)
    assert set(registrar.items) == {"redis", "rediss", "redis+cluster", "rediss+cluster"}

    factory = registrar.items["redis"]
    backend = factory("redis://localhost:6379/3?prefix=x", BackendContext(SystemClock(), 0.1))
    try:
        assert isinstance(backend, RedisBackend)
        assert isinstance(backend, CacheBackend)
        assert backend.settings.socket_timeout == backend.settings.connect_timeout == 0.1
        assert backend.settings.db == 3
    finally:
        await backend.close()


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted and names every public object of the package root."""
    names = polysource_redis.__all__
    assert list(names) == sorted(names)
    assert all(hasattr(polysource_redis, name) for name in names)


def test_settings_all_is_sorted_and_complete() -> None:
    """The settings module's ``__all__`` is sorted and resolvable too."""
    from polysource_redis import settings

    assert list(settings.__all__) == sorted(settings.__all__)
    assert all(hasattr(settings, name) for name in settings.__all__)
