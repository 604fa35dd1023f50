"""Plugin discovery and resolution.

[`PluginManager`][polysource.plugins.PluginManager] wraps one ``pluggy.PluginManager`` per
orchestrator (no module-global
state). It registers the built-in plugins, the plugins passed in code, then every entry point
of the ``polysource`` group, one at a time, each in its own ``try``: a plugin that fails to
import, has a misspelled hook or whose ``register_*`` hook raises is reported with its name,
distribution, version and error and skipped; the others keep working.

Environment:

- ``POLYSOURCE_STRICT_PLUGINS=1`` makes any plugin failure raise
[`PluginError`][polysource.plugins.PluginError].
- ``POLYSOURCE_LOAD_PLUGINS=a,b`` loads only the entry points named ``a`` and ``b``.

[`PluginManager.resolve()`][polysource.plugins.PluginManager.resolve] calls each registration hook
once and freezes the answers into a
`Registry`.
[`PluginManager.build_providers()`][polysource.plugins.PluginManager.build_providers] then calls
each
enabled provider's factory, each in its own ``try``: a factory that raises is reported like a
plugin that fails to import (its plugin named, the provider skipped, fatal in strict mode).
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import pluggy

from polysource import hookspecs
from polysource.errors import PluginError
from polysource.registry import (
    CacheBackendRegistrar,
    DatasetRegistrar,
    DuplicateNameError,
    EmulatorRegistrar,
    FleetBackendRegistrar,
    MergeStrategyRegistrar,
    OperationRegistrar,
    PluginReport,
    ProviderRegistrar,
    Registry,
    SelectionPolicyRegistrar,
    _Registrar,
)

if TYPE_CHECKING:
    from polysource.clock import Clock
    from polysource.config import Config

__all__ = ["PluginManager", "entry_point_plugins"]

ENTRY_POINT_GROUP: Final = hookspecs.PROJECT_NAME
BUILTINS_NAME: Final = "polysource.builtins"

_REGISTRATION_HOOKS: Final = (
    ("register_datasets", DatasetRegistrar, "dataset"),
    ("register_operations", OperationRegistrar, "operation"),
    ("register_providers", ProviderRegistrar, "provider"),
    ("register_cache_backends", CacheBackendRegistrar, "cache backend"),
    ("register_fleet_backends", FleetBackendRegistrar, "fleet backend"),
    ("register_merge_strategies", MergeStrategyRegistrar, "merge strategy"),
    ("register_selection_policies", SelectionPolicyRegistrar, "selection policy"),
    ("register_emulators", EmulatorRegistrar, "emulator"),
)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def entry_point_plugins() -> list[importlib.metadata.EntryPoint]:
    """The installed entry points of the ``polysource`` group, sorted by name."""
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)


class PluginManager:
    """Loads plugins for one orchestrator and resolves them into a
    [`Registry`][polysource.plugins.Registry].

    Args:
        plugins: Plugins given in code (modules or objects with ``@hookimpl`` functions).
        block: Names of plugins not to load (entry-point names or given names).
        only: If given, the only entry points to load.
        strict: Make a plugin failure fatal (default: ``POLYSOURCE_STRICT_PLUGINS``).
        entry_points: Whether to scan installed entry points at all.
        builtins: Whether to register polysource's own default plugins.
        environ: Environment to read ``POLYSOURCE_*`` switches from.
    """

    def __init__(
        self,
        *,
        plugins: Iterable[object] = (),
        block: Iterable[str] = (),
        only: Iterable[str] | None = None,
        strict: bool | None = None,
        entry_points: bool = True,
        builtins: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.strict = _truthy(env.get("POLYSOURCE_STRICT_PLUGINS")) if strict is None else strict
        only_env = env.get("POLYSOURCE_LOAD_PLUGINS")
        if only is None and only_env:
            only = [name.strip() for name in only_env.split(",") if name.strip()]
        self.only = frozenset(only) if only is not None else None
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        for name in block:
            self.pm.set_blocked(name)
        self.reports: dict[str, PluginReport] = {}
        if builtins:
            from polysource import _builtins

            self._register(_builtins, BUILTINS_NAME, None, None)
        for plugin in plugins:
            given = getattr(plugin, "plugin_name", None) or getattr(plugin, "__name__", None)
            self._register(plugin, given, None, None)
        if entry_points:
            self.load_entry_points()

    # -- loading -------------------------------------------------------------------------------

    def _fail(self, name: str, dist: str | None, version: str | None, exc: BaseException) -> None:
        self.reports[name] = PluginReport(name, dist, version, _describe(exc))
        if self.strict:
            raise PluginError(
                f"plugin {name!r} ({dist or 'no distribution'} {version or ''}) failed: "
                f"{_describe(exc)}"
            ) from exc

    def _register(
        self, plugin: object, name: str | None, dist: str | None, version: str | None
    ) -> None:
        try:
            registered = self.pm.register(plugin, name=name)
            if registered is None:  # blocked
                return
            name = str(registered)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if name is not None and self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            self._fail(name or repr(plugin), dist, version, exc)
            return
        except ValueError as exc:  # already registered under that name
            self._fail(name or repr(plugin), dist, version, exc)
            return
        self.reports[name] = PluginReport(name, dist, version)

    def load_entry_points(self) -> None:
        """Load every ``polysource`` entry point, each in its own try."""
        for ep in entry_point_plugins():
            if self.only is not None and ep.name not in self.only:
                continue
            if self.pm.is_blocked(ep.name) or self.pm.has_plugin(ep.name):
                continue
            dist = ep.dist
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
                self._fail(ep.name, dist_name, version, exc)
                continue
            self._register(plugin, ep.name, dist_name, version)

    # -- resolution ----------------------------------------------------------------------------

    def _call_each(self, hook_name: str, registrar: _Registrar[Any]) -> None:
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if not self.reports.get(impl.plugin_name, PluginReport(impl.plugin_name)).ok:
                continue
            registrar.current = impl.plugin_name
            before = set(registrar.items)
            try:
                impl.function(register=registrar)
            except DuplicateNameError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken plugin is reported and skipped
                for name in set(registrar.items) - before:
                    registrar.items.pop(name)
                    registrar.owners.pop(name)
                report = self.reports.get(impl.plugin_name, PluginReport(impl.plugin_name))
                self._fail(report.name, report.distribution, report.version, exc)

    def resolve(self) -> Registry:
        """Call each registration hook once and freeze the answers."""
        registrars: dict[str, _Registrar[Any]] = {}
        for hook_name, cls, kind in _REGISTRATION_HOOKS:
            registrar: _Registrar[Any] = cls(kind)
            self._call_each(hook_name, registrar)
            registrars[hook_name] = registrar
        broken = {name for name, report in self.reports.items() if not report.ok}
        for registrar in registrars.values():
            for item, owner in list(registrar.owners.items()):
                if owner in broken:
                    registrar.items.pop(item)
                    registrar.owners.pop(item)
        datasets = registrars["register_datasets"].items
        operations = registrars["register_operations"].items
        providers = registrars["register_providers"]
        for name, entry in list(providers.items.items()):
            missing = sorted(
                (set(entry.info.datasets) - set(datasets))
                | (set(entry.info.operations) - set(operations))
            )
            if missing:
                providers.items.pop(name)
                report = self.reports.get(entry.plugin, PluginReport(entry.plugin))
                self._fail(
                    report.name,
                    report.distribution,
                    report.version,
                    PluginError(
                        f"provider {name!r} serves unregistered dataset or operation "
                        f"{', '.join(missing)}"
                    ),
                )
        failover = self.pm.hook.failover_order
        return Registry(
            datasets=dict(datasets),
            operations=dict(operations),
            providers=dict(providers.items),
            cache_backends=dict(registrars["register_cache_backends"].items),
            fleet_backends=dict(registrars["register_fleet_backends"].items),
            merge_strategies=dict(registrars["register_merge_strategies"].items),
            selection_policies=dict(registrars["register_selection_policies"].items),
            emulators=dict(registrars["register_emulators"].items),
            event_sinks=self._functions("on_event"),
            failover_hook=failover if failover.get_hookimpls() else None,
            metrics_exposition=self._functions("metrics_exposition"),
            startup_hooks=self._functions("startup"),
            shutdown_hooks=self._functions("shutdown"),
            plugins=tuple(self.reports.values()),
        )

    def build_providers(
        self, registry: Registry, config: Config, clock: Clock, built: dict[str, Any]
    ) -> Registry:
        """Call the factory of each enabled provider once, each in its own ``try``.

        Providers go into ``built`` as they are made (so that a caller can close them if a
        later one is fatal). A factory that raises is reported against its plugin, naming the
        provider, and the provider is left out of the returned registry.

        Raises:
            PluginError: A factory raised and plugins are strict.
        """
        from polysource.provider import ProviderSettings

        failed: set[str] = set()
        for name, entry in registry.providers.items():
            provider_config = config.provider(name)
            if not provider_config.enabled:
                continue
            settings = ProviderSettings(name=name, config=provider_config, clock=clock)
            try:
                built[name] = entry.factory(settings)
            except Exception as exc:  # noqa: BLE001 - a broken provider is reported and skipped
                failed.add(name)
                report = self.reports.get(entry.plugin, PluginReport(entry.plugin))
                error = PluginError(f"provider {name!r} failed to start: {_describe(exc)}")
                error.__cause__ = exc
                self._fail(report.name, report.distribution, report.version, error)
        if not failed:
            return registry
        return attrs.evolve(
            registry,
            providers={n: e for n, e in registry.providers.items() if n not in failed},
            plugins=tuple(self.reports.values()),
        )

    def _functions(self, hook_name: str) -> tuple[Callable[..., Any], ...]:
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        return tuple(impl.function for impl in impls if self.reports.get(impl.plugin_name, _OK).ok)

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register one more plugin in code (before `resolve()`)."""
        self._register(plugin, name, None, None)

    @property
    def names(self) -> Sequence[str]:
        """Names of the registered plugins."""
        return [name for name, _ in self.pm.list_name_plugin()]


_OK: Final = PluginReport("-")
