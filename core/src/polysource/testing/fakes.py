"""A scriptable provider for tests: answers, errors and latency per key, with call counting."""

from __future__ import annotations

import collections
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
from attrs import define, field

from polysource.clock import Clock, SystemClock
from polysource.datasets import Fundamentals, Quote
from polysource.errors import ErrorCategory, ProviderError
from polysource.hookspecs import hookimpl
from polysource.models import Operation, OperationCall, ProviderInfo, Request
from polysource.registry import ProviderRegistrar

__all__ = ["FakeProvider"]


@define
class _Step:
    value: Any = None
    error: ProviderError | None = None
    latency: float | None = None


def _default_value(request: Request) -> Any:
    name = request.dataset.name
    if name == "quote":
        return Quote(symbol=request.key, price=100.0 + (sum(map(ord, request.key)) % 100))
    if name == "fundamentals":
        return Fundamentals(symbol=request.key, name=f"{request.key} Inc")
    raise ProviderError(
        f"no scripted answer for {name} {request.key!r}",
        provider="fake",
        category=ErrorCategory.NOT_FOUND,
    )


@define(eq=False)
class FakeProvider:
    """A provider whose every answer is scripted; also a plugin that registers itself.

    Example:

        fake = FakeProvider("alpha", datasets={"quote"}, regions={"US": 1}, clock=clock)
        fake.fail("AAPL", "provider_down", times=2)   # the next two calls fail
        fake.answer("AAPL", Quote("AAPL", 101.0))      # then this answer, every time
        async with Orchestrator(plugins=[fake], clock=clock, entry_points=False) as orch: ...

    Args:
        name: Provider name.
        datasets: Datasets served.
        regions: Region to rank.
        max_batch_size: Batch size; above 1 the provider has ``fetch_batch``.
        operations: Operations served.
        clock: Clock used for scripted latency.
        latency: Default latency of every call, in clock seconds.
        default: Answer for keys with nothing scripted (``request -> value``); the default
            knows ``quote`` and ``fundamentals`` and says ``not_found`` otherwise.
    """

    name: str
    datasets: Iterable[str] = ("quote",)
    regions: Mapping[str, int] = field(factory=lambda: {"global": 10})
    max_batch_size: int = 1
    operations: Iterable[str] = ()
    clock: Clock = field(factory=SystemClock)
    latency: float = 0.0
    default: Callable[[Request], Any] = _default_value
    cost_per_call: float = 0.0
    rate_limits: Sequence[str] = ()
    info: ProviderInfo = field(init=False)
    calls: list[tuple[str, str]] = field(init=False, factory=list)
    batch_calls: list[tuple[str, tuple[str, ...]]] = field(init=False, factory=list)
    operation_calls: list[tuple[str, Any]] = field(init=False, factory=list)
    closed: bool = field(init=False, default=False)
    _answers: dict[str, Any] = field(init=False, factory=dict)
    _scripts: dict[str, collections.deque[_Step]] = field(init=False, factory=dict)
    _latencies: dict[str, float] = field(init=False, factory=dict)
    _op_handlers: dict[str, Callable[[Any, OperationCall], Any]] = field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.info = ProviderInfo(
            name=self.name,
            datasets=frozenset(str(d) for d in self.datasets),
            operations=frozenset(str(o) for o in self.operations),
            regions=dict(self.regions),
            max_batch_size=self.max_batch_size,
            cost_per_call=self.cost_per_call,
            rate_limits=tuple(str(r) for r in self.rate_limits),
            description="scripted fake provider",
        )

    @property
    def plugin_name(self) -> str:
        """The name this provider registers under as a plugin."""
        return f"fake:{self.name}"

    @hookimpl
    def register_providers(self, register: ProviderRegistrar) -> None:
        """Register this provider."""
        register(self)

    # -- scripting -----------------------------------------------------------------------------

    def answer(self, key: str, value: Any) -> FakeProvider:
        """Answer ``value`` for ``key`` whenever nothing else is scripted.

        ``value`` may be a callable ``request -> value`` or an async one.
        """
        self._answers[key] = value
        return self

    def then(self, key: str, value: Any, *, latency: float | None = None) -> FakeProvider:
        """Queue one answer for the next call for ``key``."""
        self._scripts.setdefault(key, collections.deque()).append(_Step(value, None, latency))
        return self

    def fail(
        self,
        key: str,
        category: ErrorCategory | str,
        *,
        times: int = 1,
        retry_after: float | None = None,
        message: str = "scripted failure",
        latency: float | None = None,
    ) -> FakeProvider:
        """Queue ``times`` failures of ``category`` for the next calls for ``key``."""
        for _ in range(times):
            error = ProviderError(
                message, provider=self.name, category=category, retry_after=retry_after
            )
            self._scripts.setdefault(key, collections.deque()).append(_Step(None, error, latency))
        return self

    def fail_always(self, key: str, category: ErrorCategory | str) -> FakeProvider:
        """Fail every call for ``key`` (``"*"`` for every key) until `recover()`."""
        self._answers[key] = ProviderError("scripted outage", provider=self.name, category=category)
        return self

    def recover(self, key: str = "*") -> FakeProvider:
        """Stop failing ``key`` (set by `fail_always()`)."""
        if isinstance(self._answers.get(key), ProviderError):
            del self._answers[key]
        return self

    def slow(self, key: str, latency: float) -> FakeProvider:
        """Make every call for ``key`` take ``latency`` clock seconds."""
        self._latencies[key] = latency
        return self

    def on_operation(self, name: str, handler: Callable[[Any, OperationCall], Any]) -> FakeProvider:
        """Handle operation ``name`` with ``handler(params, call)`` (may be async)."""
        self._op_handlers[name] = handler
        return self

    def call_count(self, key: str | None = None) -> int:
        """Calls made (single and batched), for one key or all."""
        batched = [k for _, keys in self.batch_calls for k in keys]
        single = [k for _, k in self.calls]
        every = single + batched
        return len(every) if key is None else every.count(key)

    # -- the provider protocol -----------------------------------------------------------------

    async def _outcome(self, key: str, request: Request, *, latency: bool = True) -> Any:
        script = self._scripts.get(key)
        step = script.popleft() if script else None
        delay = step.latency if step and step.latency is not None else None
        if delay is None:
            delay = self._latencies.get(key, self._latencies.get("*", self.latency))
        if latency and delay:
            await self.clock.sleep(delay)
        if step is not None:
            if step.error is not None:
                raise step.error
            return step.value
        for candidate in (key, "*"):
            if candidate in self._answers:
                value = self._answers[candidate]
                if isinstance(value, ProviderError):
                    raise ProviderError(value.message, provider=self.name, category=value.category)
                if not callable(value):
                    return value
                answer = value(request)
                return await answer if inspect.isawaitable(answer) else answer
        try:
            return self.default(request)
        except ProviderError as exc:
            raise ProviderError(
                exc.message,
                provider=self.name,
                category=exc.category,
                retry_after=exc.retry_after,
                unsupported=exc.unsupported,
            ) from None

    async def fetch(self, request: Request) -> Any:
        """Return the scripted outcome for ``request.key``."""
        self.calls.append((request.dataset.name, request.key))
        return await self._outcome(request.key, request)

    async def fetch_batch(self, request: Request, keys: Sequence[str]) -> Mapping[str, Any]:
        """Return scripted outcomes for ``keys``; failing keys are left out."""
        if len(keys) > self.max_batch_size:
            raise ProviderError(
                f"batch of {len(keys)} exceeds {self.max_batch_size}",
                provider=self.name,
                category=ErrorCategory.INVALID_REQUEST,
            )
        self.batch_calls.append((request.dataset.name, tuple(keys)))
        if self.latency:
            await self.clock.sleep(self.latency)  # one call: its latency is paid once
        out: dict[str, Any] = {}
        for key in keys:
            try:
                out[key] = await self._outcome(key, attrs.evolve(request, key=key), latency=False)
            except ProviderError as exc:
                if exc.category is not ErrorCategory.NOT_FOUND:
                    raise
        return out

    async def execute(
        self, operation: Operation[Any, Any], params: Any, call: OperationCall
    ) -> Any:
        """Run the handler scripted with `on_operation()` (``handler(params, call)``).

        Outcomes queued with ``then``/``fail`` under the key ``"op:NAME"`` come first.
        """
        self.operation_calls.append((operation.name, params))
        script_key = f"op:{operation.name}"
        if self._scripts.get(script_key):
            return await self._outcome(script_key, call)  # type: ignore[arg-type]
        handler = self._op_handlers.get(operation.name)
        if handler is None:
            raise ProviderError(
                f"operation {operation.name!r} not scripted",
                provider=self.name,
                category=ErrorCategory.INVALID_REQUEST,
            )
        answer = handler(params, call)
        return await answer if inspect.isawaitable(answer) else answer

    async def close(self) -> None:
        """Mark closed."""
        self.closed = True

    def __repr__(self) -> str:
        return f"FakeProvider(name={self.name!r})"
