"""The :class:`Orchestrator`: lifecycle and the public request methods."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload

import structlog

from polysource.clock import Clock, SystemClock
from polysource.config import Config, load_config
from polysource.engine.route import Router
from polysource.errors import (
    AllProvidersFailed,
    ErrorCategory,
    InvalidRequest,
    PolysourceError,
    ProviderError,
    UnknownDataset,
)
from polysource.models import Dataset, ProviderInfo, Request, Result
from polysource.plugins import PluginManager
from polysource.provider import Provider, ProviderSettings
from polysource.registry import Registry

__all__ = ["Orchestrator"]

T = TypeVar("T")
_log = structlog.get_logger("polysource")


class Orchestrator:
    """Fetches data from the providers that plugins registered, as if from one source.

    Use it as an async context manager::

        async with Orchestrator.from_config("polysource.toml") as orch:
            result = await orch.fetch("quote", "AAPL", region="US")

    Args:
        config: The configuration (defaults when ``None``).
        plugins: Plugins given in code, in addition to (or instead of) installed ones.
        clock: The time source (``SystemClock`` by default; a ``FakeClock`` in tests).
        entry_points: Whether to load installed plugins from entry points.
        environ: Environment for ``POLYSOURCE_*`` plugin switches (default ``os.environ``).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        plugins: Iterable[object] = (),
        clock: Clock | None = None,
        entry_points: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config if config is not None else Config()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._plugins = tuple(plugins)
        self._entry_points = entry_points
        self._environ = os.environ if environ is None else environ
        self._registry: Registry | None = None
        self._providers: dict[str, Provider] = {}
        self._router: Router | None = None
        self._started = False

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], **kwargs: Any) -> Orchestrator:
        """Build an orchestrator from a TOML file (with ``POLYSOURCE_*`` overrides)."""
        return cls(load_config(path), **kwargs)

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Orchestrator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def registry(self) -> Registry:
        """What the plugins registered (after :meth:`start`)."""
        if self._registry is None:
            self._registry = self._plugin_manager().resolve()
        return self._registry

    def _plugin_manager(self) -> PluginManager:
        plugins_config = self.config.plugins
        return PluginManager(
            plugins=self._plugins,
            block=plugins_config.block,
            only=plugins_config.only,
            strict=plugins_config.strict or None,
            entry_points=self._entry_points,
            environ=self._environ,
        )

    async def start(self) -> None:
        """Load plugins, build providers and run ``startup`` hooks (``async with`` does this)."""
        if self._started:
            return
        registry = self.registry
        for report in registry.broken:
            _log.warning(
                "plugin_failed",
                plugin=report.name,
                distribution=report.distribution,
                version=report.version,
                error=report.error,
            )
        infos: dict[str, ProviderInfo] = {}
        regions: dict[str, Mapping[str, int]] = {}
        for name, entry in registry.providers.items():
            provider_config = self.config.provider(name)
            if not provider_config.enabled:
                continue
            settings = ProviderSettings(name=name, config=provider_config, clock=self.clock)
            self._providers[name] = entry.factory(settings)
            infos[name] = entry.info
            regions[name] = provider_config.regions or entry.info.regions
        self._router = Router(infos, self.config.routing, registry.failover_hook, regions)
        self._started = True
        for hook in registry.startup_hooks:
            outcome = hook(orchestrator=self)
            if inspect.isawaitable(outcome):
                await outcome

    async def close(self) -> None:
        """Run ``shutdown`` hooks and close providers."""
        if not self._started:
            return
        self._started = False
        for hook in self.registry.shutdown_hooks:
            try:
                outcome = hook(orchestrator=self)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:  # noqa: BLE001 - every plugin gets its shutdown
                _log.error("shutdown_hook_failed", error=f"{type(exc).__name__}: {exc}")
        for provider in self._providers.values():
            try:
                await provider.close()
            except Exception as exc:  # noqa: BLE001 - close every provider whatever happens
                _log.error("provider_close_failed", error=f"{type(exc).__name__}: {exc}")
        self._providers.clear()

    # -- routing -------------------------------------------------------------------------------

    def dataset(self, dataset: Dataset[T] | str) -> Dataset[Any]:
        """The registered dataset for a name or handle; raises ``UnknownDataset``."""
        name = dataset if isinstance(dataset, str) else dataset.name
        found = self.registry.datasets.get(name)
        if found is None:
            raise UnknownDataset(name, list(self.registry.datasets))
        return found

    def failover_order(
        self, dataset: Dataset[Any] | str, region: str | None = None
    ) -> tuple[str, ...]:
        """The providers a request for ``dataset`` in ``region`` tries, in order."""
        self._require_started()
        assert self._router is not None
        return self._router.order(self.dataset(dataset).name, region or self.config.region)

    def _require_started(self) -> None:
        if not self._started:
            raise PolysourceError("the orchestrator is not started; use 'async with'")

    # -- requests ------------------------------------------------------------------------------

    @overload
    async def fetch(
        self,
        dataset: Dataset[T],
        key: str,
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
    ) -> Result[T]: ...
    @overload
    async def fetch(
        self,
        dataset: str,
        key: str,
        *,
        region: str | None = ...,
        tier: str | None = ...,
        tenant: str | None = ...,
    ) -> Result[Any]: ...

    async def fetch(
        self,
        dataset: Dataset[Any] | str,
        key: str,
        *,
        region: str | None = None,
        tier: str | None = None,
        tenant: str | None = None,
    ) -> Result[Any]:
        """Fetch one value, trying providers in failover order.

        Raises:
            UnknownDataset: No such dataset.
            UnknownRegion: No provider serves it in the region.
            InvalidRequest: The key is empty or a private dataset has no tenant.
            AllProvidersFailed: Every provider failed.
        """
        self._require_started()
        ds = self.dataset(dataset)
        if not isinstance(key, str) or not key.strip():
            raise InvalidRequest(f"key for dataset {ds.name!r} must be a non-empty string")
        if ds.private and not tenant:
            raise InvalidRequest(f"dataset {ds.name!r} is private: a tenant is required")
        region = region or self.config.region
        order = self.failover_order(ds, region)
        request = Request(ds, ds.normalize_key(key), region, tier or self.config.tier, tenant)
        started = self.clock.monotonic()
        errors: list[ProviderError] = []
        for name in order:
            try:
                data = await self._providers[name].fetch(request)
            except ProviderError as exc:
                errors.append(exc)
                if exc.category is ErrorCategory.INVALID_REQUEST:
                    break
                continue
            now = self.clock.monotonic()
            return Result(
                data,
                name,
                errors=tuple(errors),
                attempts=len(errors) + 1,
                duration=now - started,
                providers=order[: len(errors) + 1],
                fetched_at=now,
                clock=self.clock,
            )
        raise AllProvidersFailed(
            f"every provider failed for {ds.name} {request.key!r} in {region}", errors
        )
