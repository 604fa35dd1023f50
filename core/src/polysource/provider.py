"""The contract between the engine and a provider plugin.

A provider plugin registers a *factory*: a class (or callable) with an ``info`` attribute
([`ProviderInfo`][polysource.models.ProviderInfo]) that the orchestrator calls once at start-up with
the provider's [`ProviderSettings`][polysource.provider.ProviderSettings]. The object it returns
implements [`Provider`][polysource.provider.Provider],
and optionally [`BatchProvider`][polysource.provider.BatchProvider] and
[`OperationProvider`][polysource.provider.OperationProvider].

Providers raise [`ProviderError`][polysource.errors.ProviderError] with a category from the
taxonomy;
anything else they raise is wrapped as ``invalid_response``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs
from attrs import field, frozen

from polysource.clock import Clock, SystemClock
from polysource.config import ProviderConfig, Secret
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import Operation, OperationCall, ProviderInfo, Request

if TYPE_CHECKING:
    from collections.abc import Callable

_ABSENT = (ErrorCategory.NOT_FOUND, ErrorCategory.INVALID_REQUEST)

__all__ = [
    "BaseProvider",
    "BatchProvider",
    "OperationProvider",
    "Provider",
    "ProviderFactory",
    "ProviderSettings",
]


@frozen
class ProviderSettings:
    """What a provider factory receives at start-up.

    Args:
        name: The provider's name.
        config: Its section of the configuration.
        clock: The orchestrator's clock.
    """

    name: str
    config: ProviderConfig = field(factory=ProviderConfig)
    clock: Clock = field(factory=SystemClock)

    @property
    def base_url(self) -> str | None:
        """The base-URL override (an emulator's address), or ``None`` for the real API."""
        return self.config.base_url

    @property
    def options(self) -> Mapping[str, Any]:
        """Provider-specific options from ``[providers.NAME.options]``."""
        return self.config.options

    def credential(self, name: str, *, env: str | None = None) -> Secret:
        """The credential ``name`` from config, else from environment variable ``env``.

        Raises:
            ConfigError: Neither source has it.
        """
        secret = self.config.credentials.get(name)
        if secret is None and env is not None:
            secret = Secret(env=env)
        if secret is None:
            raise ConfigError(
                f"provider {self.name!r} needs credential {name!r}",
                path=f"providers.{self.name}.credentials.{name}",
            )
        return secret


@runtime_checkable
class Provider(Protocol):
    """A source of datasets: one ``fetch`` per key."""

    info: ProviderInfo

    async def fetch(self, request: Request) -> Any:
        """Return the value for ``request.key`` as an instance of the dataset's schema.

        Raises:
            ProviderError: With the category that describes the failure.
        """
        ...

    async def close(self) -> None:
        """Release connections; called once at shutdown."""
        ...


@runtime_checkable
class BatchProvider(Provider, Protocol):
    """A provider that can fetch many keys in one call (at most ``info.max_batch_size``)."""

    async def fetch_batch(self, request: Request, keys: Sequence[str]) -> Mapping[str, Any]:
        """Return values for the keys it found; a key absent from the answer was not found."""
        ...


@runtime_checkable
class OperationProvider(Protocol):
    """A provider that performs operations (``create_link``, ``sync_transactions``, ...)."""

    info: ProviderInfo

    async def execute(
        self, operation: Operation[Any, Any], params: Any, call: OperationCall
    ) -> Any:
        """Perform ``operation`` with ``params``; return an instance of its result class.

        ``call.connection`` is the tenant's connection at this provider (``None`` for
        ``create_link``); ``call.deadline`` bounds everything, pagination included.
        """
        ...


class ProviderFactory(Protocol):
    """What ``register_providers`` accepts: a callable with a class-level ``info``."""

    info: ProviderInfo

    def __call__(self, settings: ProviderSettings) -> Provider: ...


class BaseProvider:
    """A convenient base class: stores settings, default ``close``, a repr with no secrets.

    Subclasses set the class attribute ``info`` and implement ``fetch`` (and ``fetch_batch``
    or ``execute`` when they have them).
    """

    info: ProviderInfo

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.clock = settings.clock

    async def close(self) -> None:
        """Nothing to release by default."""
        return

    async def fetch_each(
        self, request: Request, keys: Sequence[str], *, concurrency: int = 4
    ) -> dict[str, Any]:
        """``fetch`` each key, ``concurrency`` at a time: a batch for providers with no batch call.

        Keys the provider does not find or cannot serve (``not_found``, ``invalid_request``)
        are left out of the answer; any other failure stops the batch and is raised.
        """
        fetch = self.fetch  # type: ignore[attr-defined]
        semaphore = asyncio.Semaphore(concurrency)
        found: dict[str, Any] = {}

        async def one(key: str) -> None:
            async with semaphore:
                try:
                    found[key] = await fetch(attrs.evolve(request, key=key))
                except ProviderError as exc:
                    if exc.category not in _ABSENT:
                        raise

        try:
            async with asyncio.TaskGroup() as group:
                for key in dict.fromkeys(keys):
                    group.create_task(one(key))
        except ExceptionGroup as failed:
            first = next((e for e in failed.exceptions if isinstance(e, ProviderError)), None)
            if first is None:
                raise
            raise first from first.__cause__
        return found

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.info.name!r})"


def instance_factory(provider: Provider) -> Callable[[ProviderSettings], Provider]:
    """Wrap an already-built provider so it can be registered like a factory."""

    def factory(settings: ProviderSettings) -> Provider:
        return provider

    factory.info = provider.info  # type: ignore[attr-defined]
    return factory
