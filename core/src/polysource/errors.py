"""The polysource error hierarchy.

Every exception polysource raises derives from
[`PolysourceError`][polysource.errors.PolysourceError]:

    PolysourceError
    ├── ConfigError           a configuration value is missing, unknown or of the wrong type
    ├── PluginError           a plugin failed to load or registered a clashing name
    ├── UnknownDataset        a request named a dataset nobody registered
    ├── UnknownOperation      a request named an operation nobody registered
    ├── UnknownRegion         no provider serves the dataset in the requested region
    ├── InvalidRequest        the request itself is malformed (checked before any provider)
    ├── ProviderError         one provider failed one attempt; carries a category
    │   └── BudgetExhausted   its cost budget could not pay for the call (usage, limit, cost)
    └── AllProvidersFailed    every candidate provider failed (an ExceptionGroup of ProviderError)

[`ProviderError`][polysource.errors.ProviderError] carries ``provider``, ``category`` (an
[`ErrorCategory`][polysource.errors.ErrorCategory]) and
``retryable``. The category decides what the engine does next: ``invalid_request`` stops
failover (every provider would reject the request), ``auth`` skips only that provider, and
the transient ones (``network``, ``timeout``, ``provider_down``, ``rate_limit``) are retried
and then failed over. An ``invalid_request`` marked ``unsupported`` ("this provider cannot
serve that key, another may": a forex pair asked of an equities-only provider) skips only that
provider.

Messages name the offending thing and never contain a secret.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Final

__all__ = [
    "AllProvidersFailed",
    "BudgetExhausted",
    "ConfigError",
    "ErrorCategory",
    "InvalidRequest",
    "PluginError",
    "PolysourceError",
    "ProviderError",
    "UnknownDataset",
    "UnknownOperation",
    "UnknownRegion",
]


class ErrorCategory(enum.StrEnum):
    """Why a provider attempt failed; decides retry and failover."""

    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    NETWORK = "network"
    TIMEOUT = "timeout"
    PROVIDER_DOWN = "provider_down"
    INVALID_REQUEST = "invalid_request"
    INVALID_RESPONSE = "invalid_response"
    NOT_FOUND = "not_found"
    CIRCUIT_OPEN = "circuit_open"
    BUDGET_EXHAUSTED = "budget_exhausted"


def stops_failover(error: ProviderError) -> bool:
    """Whether ``error`` means no other provider should be asked either."""
    return error.category is ErrorCategory.INVALID_REQUEST and not error.unsupported


TRANSIENT: Final = frozenset(
    {
        ErrorCategory.NETWORK,
        ErrorCategory.TIMEOUT,
        ErrorCategory.PROVIDER_DOWN,
        ErrorCategory.RATE_LIMIT,
    }
)
"""Categories that are retried by default before failing over."""


class PolysourceError(Exception):
    """Root of every error raised by polysource."""


class ConfigError(PolysourceError):
    """Raised when configuration is invalid; the message names the key path."""

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class PluginError(PolysourceError):
    """Raised when a plugin cannot be loaded or registers a name another plugin owns."""


class UnknownDataset(PolysourceError, LookupError):
    """Raised when a request names a dataset that no plugin registered."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(
            f"unknown dataset {name!r}; known datasets: {', '.join(self.known) or '(none)'}"
        )


class UnknownOperation(PolysourceError, LookupError):
    """Raised when a request names an operation that no plugin registered."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(
            f"unknown operation {name!r}; known operations: {', '.join(self.known) or '(none)'}"
        )


class UnknownRegion(PolysourceError, LookupError):
    """Raised when no enabled provider serves a dataset or operation in a region."""

    def __init__(self, target: str, region: str, known: Sequence[str]) -> None:
        self.target = target
        self.region = region
        self.known = tuple(sorted(known))
        super().__init__(
            f"no provider serves {target!r} in region {region!r}; "
            f"regions served: {', '.join(self.known) or '(none)'}"
        )


class InvalidRequest(PolysourceError, ValueError):
    """Raised before any provider is asked when the request itself is malformed."""


class ProviderError(PolysourceError):
    """One provider failed one attempt.

    Args:
        message: What went wrong, without secrets.
        provider: The provider's name.
        category: The taxonomy category.
        retryable: Whether the same provider may be tried again; defaults by category.
        retry_after: Seconds the provider asked us to wait (``Retry-After``), if any.
        status: The HTTP status, when there was one.
        unsupported: The provider cannot serve this key or dataset, though others may; the
            engine then fails over instead of stopping.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        category: ErrorCategory | str,
        retryable: bool | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        unsupported: bool = False,
    ) -> None:
        self.provider = provider
        self.unsupported = unsupported
        self.category = ErrorCategory(category)
        self.retryable = self.category in TRANSIENT if retryable is None else retryable
        self.retry_after = retry_after
        self.status = status
        self.message = message
        super().__init__(f"{provider}: {self.category}: {message}")

    def __repr__(self) -> str:
        return (
            f"ProviderError(provider={self.provider!r}, category={self.category.value!r}, "
            f"message={self.message!r})"
        )


class BudgetExhausted(ProviderError):
    """A provider was skipped because its cost budget cannot pay for the call.

    Category ``budget_exhausted``, not retryable. When no other provider answers, it is one
    of the errors of [`AllProvidersFailed`][polysource.errors.AllProvidersFailed] (``except*
    BudgetExhausted`` catches it).

    Args:
        provider: The provider's name.
        usage: Cost units spent in the current window.
        limit: Cost units the window allows.
        cost: What the call would have cost.
        resets_at: Wall time (epoch seconds) at which the window resets, if known.
        scope: ``local`` or ``shared`` (the fleet's budget).
    """

    def __init__(
        self,
        *,
        provider: str,
        usage: float,
        limit: float,
        cost: float,
        resets_at: float | None = None,
        scope: str = "local",
    ) -> None:
        self.usage = usage
        self.limit = limit
        self.cost = cost
        self.resets_at = resets_at
        self.scope = scope
        super().__init__(
            f"{scope} cost budget spent ({usage:g} of {limit:g} used; the call costs {cost:g})",
            provider=provider,
            category=ErrorCategory.BUDGET_EXHAUSTED,
            retryable=False,
        )


class AllProvidersFailed(PolysourceError, ExceptionGroup):
    """Every candidate provider failed; ``errors`` holds each
    [`ProviderError`][polysource.errors.ProviderError] in order."""

    def __new__(cls, message: str, errors: Sequence[ProviderError]) -> AllProvidersFailed:
        if not errors:
            errors = [
                ProviderError("no provider was available", provider="-", category="provider_down")
            ]
        return super().__new__(cls, message, list(errors))

    def __init__(self, message: str, errors: Sequence[ProviderError]) -> None:
        super().__init__(message, list(errors) or list(self.exceptions))

    @property
    def errors(self) -> tuple[ProviderError, ...]:
        """Each provider's error, in the order the providers were tried."""
        return tuple(e for e in self.exceptions if isinstance(e, ProviderError))

    def derive(self, excs: Sequence[Exception]) -> AllProvidersFailed:  # type: ignore[override]
        return AllProvidersFailed(self.message, [e for e in excs if isinstance(e, ProviderError)])
