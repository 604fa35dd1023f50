"""The frozen snapshot of everything plugins registered, and the register callbacks.

Each ``register_*`` hook receives one of the small registrar objects below. A registrar
validates what it is given and remembers which plugin gave it, so that a clash names both
plugins. [`polysource.plugins.resolve()`][polysource.plugins.resolve] turns the registrars into a
`Registry`:
plain dicts and tuples that the request path reads without calling pluggy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Generic, TypeVar

from attrs import define, field, frozen

from polysource.errors import PluginError
from polysource.models import Dataset, Operation, ProviderInfo

__all__ = [
    "CacheBackendRegistrar",
    "DatasetRegistrar",
    "DuplicateNameError",
    "EmulatorRegistrar",
    "EmulatorSpec",
    "FleetBackendRegistrar",
    "ImportedFactory",
    "MergeStrategyRegistrar",
    "OperationRegistrar",
    "PluginReport",
    "ProviderEntry",
    "ProviderRegistrar",
    "Registry",
    "SelectionPolicyRegistrar",
]

V = TypeVar("V")


@frozen
class PluginReport:
    """One plugin as loaded (or not): for ``polysource plugins`` and error reports."""

    name: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the plugin loaded and registered without error."""
        return self.error is None


@frozen
class ProviderEntry:
    """A registered provider factory with the plugin that registered it."""

    info: ProviderInfo
    factory: Callable[..., Any]
    plugin: str


_IMPORT_PATH: Final = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
"""``package.module:attribute``, as in an entry point."""


@frozen
class ImportedFactory:
    """A factory named by its import path, imported on its first call.

    An emulator registered as ``"polysource_tiingo.emulator:create_app"`` costs nothing until
    it is asked for: loading the plugin does not import its emulator module (nor
    ``aiohttp.web`` and the emulator's generated data).

    Args:
        target: ``package.module:attribute``.
        owner: What it builds, for errors (e.g. ``emulator 'tiingo'``).
    """

    target: str
    owner: str

    def resolve(self) -> Callable[..., Any]:
        """Import the target.

        Raises:
            PluginError: The module does not import, lacks the attribute, or the attribute is
                not callable.
        """
        import pkgutil

        try:
            factory = pkgutil.resolve_name(self.target)
        except (ImportError, AttributeError, ValueError) as exc:
            raise PluginError(
                f"{self.owner} could not be loaded from {self.target!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not callable(factory):
            raise PluginError(f"{self.owner}: {self.target!r} is not callable")
        return factory  # type: ignore[no-any-return]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)


@frozen
class EmulatorSpec:
    """A registered emulator: ``factory(faults)`` returns an ``aiohttp.web.Application``.

    ``factory`` is the callable the plugin registered, or an
    [`ImportedFactory`][polysource.registry.ImportedFactory] when it
    registered an import path.
    """

    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""
    default_port: int = 0


class DuplicateNameError(PluginError):
    """Two plugins registered the same name; always fatal, since either choice is a guess."""


@define
class _Registrar(Generic[V]):
    kind: str
    items: dict[str, V] = field(factory=dict)
    owners: dict[str, str] = field(factory=dict)
    current: str = "?"

    def _add(self, name: str, value: V) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {self.current!r} registered a {self.kind} without a name")
        if name in self.items:
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered by both plugin {self.owners[name]!r} "
                f"and plugin {self.current!r}"
            )
        self.items[name] = value
        self.owners[name] = self.current

    def _snapshot(self) -> dict[str, V]:
        return dict(self.items)


class DatasetRegistrar(_Registrar[Dataset[Any]]):
    """``register(dataset)``: add a [`Dataset`][polysource.models.Dataset]."""

    def __call__(self, dataset: Dataset[Any]) -> None:
        if not isinstance(dataset, Dataset):
            raise PluginError(
                f"plugin {self.current!r} registered {dataset!r}, which is not a Dataset"
            )
        self._add(dataset.name, dataset)


class OperationRegistrar(_Registrar[Operation[Any, Any]]):
    """``register(operation)``: add an [`Operation`][polysource.models.Operation]."""

    def __call__(self, operation: Operation[Any, Any]) -> None:
        if not isinstance(operation, Operation):
            raise PluginError(
                f"plugin {self.current!r} registered {operation!r}, which is not an Operation"
            )
        self._add(operation.name, operation)


class ProviderRegistrar(_Registrar[ProviderEntry]):
    """``register(factory_or_provider)``: add a provider (its ``info`` names it)."""

    def __call__(self, factory: Any) -> None:
        info = getattr(factory, "info", None)
        if not isinstance(info, ProviderInfo):
            raise PluginError(
                f"plugin {self.current!r} registered {factory!r} without a ProviderInfo 'info'"
            )
        if not isinstance(factory, type) and hasattr(factory, "fetch"):
            from polysource.provider import instance_factory  # an instance, not a factory

            factory = instance_factory(factory)
        elif not callable(factory):
            raise PluginError(f"plugin {self.current!r} registered {factory!r}, not callable")
        self._add(info.name, ProviderEntry(info=info, factory=factory, plugin=self.current))


class CacheBackendRegistrar(_Registrar[Callable[..., Any]]):
    """``register(schemes, factory)``: claim URL schemes for a cache backend factory."""

    def __call__(self, schemes: Sequence[str] | str, factory: Callable[..., Any]) -> None:
        for scheme in (schemes,) if isinstance(schemes, str) else schemes:
            self._add(scheme.removesuffix("://"), factory)


class FleetBackendRegistrar(CacheBackendRegistrar):
    """``register(schemes, factory)``: claim URL schemes for a fleet backend factory."""


class MergeStrategyRegistrar(_Registrar[Any]):
    """``register(name, strategy)``: add a merge strategy (an object with ``merge``)."""

    def __call__(self, name: str, strategy: Any) -> None:
        if isinstance(strategy, type) or not callable(getattr(strategy, "merge", None)):
            raise PluginError(
                f"plugin {self.current!r} registered merge strategy {name!r} as {strategy!r}, "
                "which is not an object with a 'merge' method (register an instance)"
            )
        self._add(name, strategy)


class SelectionPolicyRegistrar(_Registrar[Callable[..., Any]]):
    """``register(name, factory)``: add a selection policy."""

    def __call__(self, name: str, factory: Callable[..., Any]) -> None:
        self._add(name, factory)


class EmulatorRegistrar(_Registrar[EmulatorSpec]):
    """``register(name, factory, description=..., default_port=...)``: add an emulator.

    ``factory`` is a callable or, so that the emulator module is imported only when the
    emulator is asked for, its import path (``"package.module:function"``).
    """

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        description: str = "",
        default_port: int = 0,
    ) -> None:
        if isinstance(factory, str):
            if not _IMPORT_PATH.fullmatch(factory):
                raise PluginError(
                    f"plugin {self.current!r} registered emulator {name!r} with factory "
                    f"{factory[:60]!r}, which is neither a callable nor an import path "
                    "('package.module:function')"
                )
            factory = ImportedFactory(factory, f"emulator {name!r} of plugin {self.current!r}")
        elif not callable(factory):
            raise PluginError(
                f"plugin {self.current!r} registered emulator {name!r} with a "
                f"{type(factory).__name__} factory, which is neither a callable nor an import "
                "path ('package.module:function')"
            )
        self._add(
            name,
            EmulatorSpec(
                name=name,
                factory=factory,
                plugin=self.current,
                description=description,
                default_port=default_port,
            ),
        )


@frozen
class Registry:
    """Everything the plugins registered, frozen at start-up.

    Args:
        datasets: Dataset name to dataset.
        operations: Operation name to operation.
        providers: Provider name to entry.
        cache_backends: URL scheme to backend factory.
        fleet_backends: URL scheme to fleet backend factory.
        merge_strategies: Name to strategy.
        selection_policies: Name to policy factory.
        emulators: Name to emulator spec.
        event_sinks: The ``on_event`` implementations, to be called directly.
        failover_hook: The ``failover_order`` hook caller, or ``None`` if no plugin has one.
        metrics_exposition: The ``metrics_exposition`` implementations, to be called directly
            in order until one answers (none: ``/metrics`` answers 404).
        plugins: A report per plugin, including the ones that failed.
    """

    datasets: Mapping[str, Dataset[Any]] = field(factory=dict)
    operations: Mapping[str, Operation[Any, Any]] = field(factory=dict)
    providers: Mapping[str, ProviderEntry] = field(factory=dict)
    cache_backends: Mapping[str, Callable[..., Any]] = field(factory=dict)
    fleet_backends: Mapping[str, Callable[..., Any]] = field(factory=dict)
    merge_strategies: Mapping[str, Any] = field(factory=dict)
    selection_policies: Mapping[str, Callable[..., Any]] = field(factory=dict)
    emulators: Mapping[str, EmulatorSpec] = field(factory=dict)
    event_sinks: tuple[Callable[..., Any], ...] = ()
    failover_hook: Callable[..., Any] | None = None
    metrics_exposition: tuple[Callable[..., Any], ...] = ()
    startup_hooks: tuple[Callable[..., Any], ...] = ()
    shutdown_hooks: tuple[Callable[..., Any], ...] = ()
    plugins: tuple[PluginReport, ...] = ()

    @property
    def broken(self) -> tuple[PluginReport, ...]:
        """Plugins that failed to load or register."""
        return tuple(p for p in self.plugins if not p.ok)
