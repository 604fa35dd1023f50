"""polysource: fetch data from several external providers as if from one reliable source.

The public names are re-exported here; everything else is an implementation module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polysource.config import Config, Secret, load_config
from polysource.connections import Connection, ConnectionStore
from polysource.errors import (
    AllProvidersFailed,
    BudgetExhausted,
    ConfigError,
    ErrorCategory,
    InvalidRequest,
    PluginError,
    PolysourceError,
    ProviderError,
    UnknownDataset,
    UnknownOperation,
    UnknownRegion,
)
from polysource.events import Event, EventKind
from polysource.hookspecs import hookimpl
from polysource.models import (
    BatchResult,
    BatchSummary,
    CachePolicy,
    CompositeResult,
    Dataset,
    HealthStatus,
    MergedResult,
    Operation,
    OperationCall,
    OperationResult,
    ProviderHealth,
    ProviderInfo,
    Request,
    Result,
    Stats,
)
from polysource.orchestrator import Orchestrator
from polysource.provider import BaseProvider, Provider, ProviderSettings

if TYPE_CHECKING:
    __version__: str

__all__ = [
    "AllProvidersFailed",
    "BaseProvider",
    "BatchResult",
    "BatchSummary",
    "BudgetExhausted",
    "CachePolicy",
    "CompositeResult",
    "Config",
    "ConfigError",
    "Connection",
    "ConnectionStore",
    "Dataset",
    "ErrorCategory",
    "Event",
    "EventKind",
    "HealthStatus",
    "InvalidRequest",
    "MergedResult",
    "Operation",
    "OperationCall",
    "OperationResult",
    "Orchestrator",
    "PluginError",
    "PolysourceError",
    "Provider",
    "ProviderError",
    "ProviderHealth",
    "ProviderInfo",
    "ProviderSettings",
    "Request",
    "Result",
    "Secret",
    "Stats",
    "UnknownDataset",
    "UnknownOperation",
    "UnknownRegion",
    "hookimpl",
    "load_config",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("polysource")
    raise AttributeError(f"module 'polysource' has no attribute {name!r}")
