"""Failover order of a (dataset, region) pair: ranks, then config, then the ``failover_order`` hook.

1. Ranks: providers that declare the region, by rank then name; then providers that declare
   ``global``, by rank then name.
2. Config: ``[routing.DATASET] REGION = ["a", "b"]`` replaces that order entirely (the user's
   word always wins); a name there that does not serve the dataset is left out (the
   orchestrator checks at start that every name there is a registered provider).
3. Hook: ``failover_order(dataset, region, providers)`` may reorder or drop, never add.

Providers the operator disabled at runtime keep their place in
[`Router.route()`][polysource.engine.route.Router.route] (the fetch
walk reports each as skipped) and are left out of
[`Router.order()`][polysource.engine.route.Router.order]. The answer is computed
once per pair and kept until providers are re-ranked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from polysource.errors import PluginError, UnknownRegion
from polysource.models import ProviderInfo

__all__ = ["GLOBAL", "Router"]

GLOBAL: Final = "global"
_GLOBAL_OFFSET: Final = 1_000_000


class Router:
    """Resolves and caches failover orders.

    Args:
        infos: Provider name to its declared info (with config's region overrides applied).
        serves: Provider name to the dataset/operation names it serves.
        routing: Config ``routing`` section: target to region to ordered names.
        hook: The ``failover_order`` hook caller, or ``None``.
    """

    def __init__(
        self,
        infos: Mapping[str, ProviderInfo],
        routing: Mapping[str, Mapping[str, Sequence[str]]],
        hook: Callable[..., Any] | None,
        regions: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        self._infos = dict(infos)
        self._regions = {
            name: dict(regions.get(name) or info.regions) if regions else dict(info.regions)
            for name, info in infos.items()
        }
        self._routing = routing
        self._hook = hook
        self._disabled: set[str] = set()
        self._routes: dict[tuple[str, str], tuple[str, ...]] = {}
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}

    def serving(self, target: str, *, disabled: bool = False) -> list[str]:
        """Names of enabled providers that serve a dataset or operation (with ``disabled``,
        the ones the operator disabled too)."""
        return [
            name
            for name, info in self._infos.items()
            if (disabled or name not in self._disabled)
            and (target in info.datasets or target in info.operations)
        ]

    def regions_of(self, target: str) -> set[str]:
        """Regions in which some enabled provider serves ``target``."""
        out: set[str] = set()
        for name in self.serving(target):
            out.update(self._regions[name])
        return out

    def order(self, target: str, region: str) -> tuple[str, ...]:
        """The failover order for (target, region); raises ``UnknownRegion`` if empty."""
        key = (target, region)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        order = tuple(name for name in self._route(key) if name not in self._disabled)
        if not order:
            raise UnknownRegion(target, region, sorted(self.regions_of(target)))
        self._cache[key] = order
        return order

    def route(self, target: str, region: str) -> tuple[str, ...]:
        """The failover order with the providers the operator disabled still in place (the
        walk reports them as skipped); raises ``UnknownRegion`` if empty."""
        route = self._route((target, region))
        if not route:
            raise UnknownRegion(target, region, sorted(self.regions_of(target)))
        return route

    def _route(self, key: tuple[str, str]) -> tuple[str, ...]:
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = self._resolve(*key)
        return route

    def _resolve(self, target: str, region: str) -> tuple[str, ...]:
        serving = self.serving(target, disabled=True)
        configured = self._routing.get(target, {}).get(region)
        if configured is not None:
            # Names were checked at start; one not built (disabled, broken) serves nothing.
            order = [name for name in configured if name in serving]
        else:
            order = self._by_rank(serving, region)
        if self._hook is not None and order:
            hooked = self._hook(dataset=target, region=region, providers=tuple(order))
            if hooked is not None:
                extra = [name for name in hooked if name not in order]
                if extra:
                    raise PluginError(
                        f"failover_order for {target!r} in {region!r} added provider(s) "
                        f"{', '.join(extra)} that do not serve it there"
                    )
                order = list(dict.fromkeys(hooked))
        return tuple(order)

    def _by_rank(self, serving: Iterable[str], region: str) -> list[str]:
        ranked: list[tuple[int, str]] = []
        for name in serving:
            regions = self._regions[name]
            if region in regions:
                ranked.append((regions[region], name))
            elif GLOBAL in regions:
                ranked.append((regions[GLOBAL] + _GLOBAL_OFFSET, name))
        return [name for _, name in sorted(ranked)]

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a provider for routing; forgets cached orders."""
        (self._disabled.discard if enabled else self._disabled.add)(name)
        self._cache.clear()

    def set_rank(self, name: str, region: str, rank: int) -> None:
        """Change a provider's rank in a region at runtime; forgets cached orders."""
        self._regions[name][region] = rank
        self._routes.clear()
        self._cache.clear()

    def is_enabled(self, name: str) -> bool:
        """Whether the provider is enabled for routing."""
        return name not in self._disabled
