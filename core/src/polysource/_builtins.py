"""polysource's own behaviour, shipped as default plugins.

- the standard datasets and the built-in merge strategies (module-level hooks);
- [`LogSink`][polysource._builtins.LogSink], the structlog logger of events, registered by each
orchestrator with the
  level from ``[telemetry]``.
"""

from __future__ import annotations

from typing import Final

from polysource._logging import LazyLogger
from polysource.datasets import STANDARD_DATASETS
from polysource.engine.selection import builtin_policies
from polysource.engine.strategies import BUILTIN_STRATEGIES
from polysource.events import Event, EventKind
from polysource.hookspecs import hookimpl
from polysource.operations import STANDARD_OPERATIONS
from polysource.registry import (
    DatasetRegistrar,
    MergeStrategyRegistrar,
    OperationRegistrar,
    SelectionPolicyRegistrar,
)

__all__ = [
    "LogSink",
    "register_datasets",
    "register_merge_strategies",
    "register_operations",
    "register_selection_policies",
]


@hookimpl
def register_datasets(register: DatasetRegistrar) -> None:
    """Register the standard datasets of the first-party domains."""
    for dataset in STANDARD_DATASETS:
        register(dataset)


@hookimpl
def register_selection_policies(register: SelectionPolicyRegistrar) -> None:
    """Register the built-in selection policies."""
    for name, factory in builtin_policies().items():
        register(name, factory)


@hookimpl
def register_operations(register: OperationRegistrar) -> None:
    """Register the standard operations of the banking domain."""
    for operation in STANDARD_OPERATIONS:
        register(operation)


@hookimpl
def register_merge_strategies(register: MergeStrategyRegistrar) -> None:
    """Register ``first``, ``field_priority``, ``median``, ``union`` and ``consensus``."""
    for name, strategy in BUILTIN_STRATEGIES.items():
        register(name, strategy)


_DEBUG: Final = frozenset(
    {
        EventKind.CACHE_HIT,
        EventKind.CACHE_MISS,
        EventKind.CACHE_WRITE,
        EventKind.ATTEMPT,
        EventKind.SUCCESS,
        EventKind.DEDUPLICATED,
    }
)
_WARNING: Final = frozenset(
    {
        EventKind.FAILURE,
        EventKind.RETRY,
        EventKind.FAILOVER,
        EventKind.SKIPPED,
        EventKind.BREAKER,
        EventKind.HEALTH,
        EventKind.REQUEST_FAILED,
        EventKind.STALE_SERVED,
        EventKind.PLUGIN_ERROR,
        EventKind.TIER,  # detached; attached again is info
        EventKind.FLEET,  # detached; listening and attached are info, waiting debug
    }
)
_ERROR: Final = frozenset({EventKind.REQUEST_FAILED, EventKind.PLUGIN_ERROR})
_LEVELS: Final = {
    "debug": frozenset(EventKind),
    "info": frozenset(EventKind) - _DEBUG,
    "warning": _WARNING,
    "error": _ERROR,
}


_RANK: Final = {"debug": 0, "info": 1, "warning": 2, "error": 3}


def _level_of(event: Event) -> str:
    """The level an event deserves: a provider becoming healthy is news, not a warning."""
    if event.kind is EventKind.HEALTH and event.detail.get("to") == "healthy":
        return "info"
    if event.kind in (EventKind.TIER, EventKind.FLEET) and event.detail.get("state") != "detached":
        return "debug" if event.detail.get("state") == "waiting" else "info"
    if event.kind in _ERROR:
        return "error"
    if event.kind in _WARNING:
        return "warning"
    if event.kind in _DEBUG:
        return "debug"
    return "info"


class LogSink:
    """Logs events with structlog, at the level each kind deserves.

    It asks only for the kinds its level shows (``event_kinds``), so at the default level
    (``warning``) a cache hit builds no event at all.
    """

    plugin_name = "polysource.log"

    def __init__(self, level: str = "warning") -> None:
        self.level = level
        self._log = LazyLogger("polysource")
        self.event_kinds = _LEVELS[level]

    @hookimpl
    def on_event(self, event: Event) -> None:
        """Log one event at its level, if that level is shown."""
        level = _level_of(event)
        if _RANK[level] < _RANK[self.level]:
            return
        fields = event.to_dict()
        name = fields.pop("event")
        getattr(self._log, level)(name, **fields)
