"""Spans of an orchestrator's work: the plugin
[`OtelTracing`][polysource_otel.tracing.OtelTracing], and
[`TracedOrchestrator`][polysource_otel.tracing.TracedOrchestrator] for request spans.

Three layers of spans make one trace per request:

- the **request** span (``fetch quote``, ``fetch_many quote``, ``fetch_merged fundamentals``,
  ``execute sync_transactions``), opened by
  [`TracedOrchestrator`][polysource_otel.tracing.TracedOrchestrator] around the orchestrator's
  method: the engine announces no request start, and a wrapper the caller opts
  into keeps the orchestrator's own hit path as it is;
- an **attempt** span per provider call, from the engine's events: ``attempt`` opens it (the
  parent of the call's HTTP spans), ``success`` or ``failure`` ends it, with the
  duration the engine measured. An attempt that never ends (a hedge's loser, cancelled) is ended
  with the request, marked ``polysource.outcome = "cancelled"``;
- a **client** span per HTTP request the provider sends
  ([`http_trace_config()`][polysource_otel.http.http_trace_config]).

Skips, retries, failovers, hedges, joins of a call in flight, stale answers and failed
requests are span events on the span current when they happen.

No attribute holds a secret, a tenant or the key of a private dataset: attempt spans show the
key and tenant as the events carry them (pseudonyms for private data); the request span shows
the key of public datasets only, and an error's message is masked for the request's key and
tenant (every encoding, with [`redact()`][polysource.redaction.redact]).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar, final

import aiohttp
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from polysource import http
from polysource.errors import PolysourceError
from polysource.events import Event, EventKind
from polysource.hookspecs import hookimpl
from polysource.redaction import redact
from polysource.validation import is_plain_key
from polysource_otel.http import attempt_span, http_trace_config

if TYPE_CHECKING:
    from polysource.orchestrator import Orchestrator

__all__ = ["OtelTracing", "SPAN_EVENTS", "TracedOrchestrator"]

P = ParamSpec("P")
R = TypeVar("R")

SPAN_EVENTS: Final = frozenset(
    {
        EventKind.SKIPPED,
        EventKind.RETRY,
        EventKind.FAILOVER,
        EventKind.HEDGE,
        EventKind.DEDUPLICATED,
        EventKind.STALE_SERVED,
        EventKind.REQUEST_FAILED,
        EventKind.BATCH,
    }
)
"""The event kinds recorded as span events (on the span current when they happen)."""

_SCOPE: Final = "polysource_otel"
_NS: Final = 1_000_000_000
_REQUEST: Final = otel_context.create_key("polysource.request")
_EVENT_FIELDS: Final = ("provider", "dataset", "key", "tenant", "category", "attempt")


def _ns(seconds: float) -> int:
    return int(seconds * _NS)


@final
class _Attempt:
    """An open attempt span, and the token that restores
    [`attempt_span`][polysource_otel.http.attempt_span] when it ends."""

    __slots__ = ("provider", "span", "start", "token")

    def __init__(self, span: Span, provider: str | None, start: float) -> None:
        self.span = span
        self.provider = provider
        self.start = start
        self.token: Token[Span | None] | None = None


_open_attempt: ContextVar[_Attempt | None] = ContextVar("polysource_otel_open", default=None)


@final
class _Request:
    """What a request span shares with the tasks it starts: its attempts still open."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open: dict[int, _Attempt] = {}

    def close(self, end: int) -> None:
        """End the attempts the engine never ended (cancelled)."""
        for attempt in self.open.values():
            attempt.span.set_attribute("polysource.outcome", "cancelled")
            attempt.span.end(end_time=end)
        self.open.clear()


class OtelTracing:
    """OpenTelemetry tracing of one orchestrator: pass it in ``Orchestrator(plugins=[...])``.

    Example:

        tracing = OtelTracing()
        async with Orchestrator.from_config("polysource.toml", plugins=[tracing]) as orch:
            traced = tracing.traced(orch)
            result = await traced.fetch("quote", "AAPL")

    Args:
        tracer_provider: Where spans go (default: the global one that
            ``opentelemetry.trace.set_tracer_provider`` set).
        http: Whether to open a client span per provider HTTP request (registered with
            [`add_trace_config()`][polysource.http.add_trace_config] while an orchestrator
            using this plugin runs).
        propagate: Whether provider HTTP requests carry the trace context (``traceparent``).

    Attributes:
        tracer: The tracer every span of this plugin comes from.
    """

    plugin_name = "polysource_otel.tracing"
    event_kinds: Final = frozenset(
        {EventKind.ATTEMPT, EventKind.SUCCESS, EventKind.FAILURE, *SPAN_EVENTS}
    )
    """The kinds this plugin asks for: no cache event, so a cache hit builds none for it."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        http: bool = True,
        propagate: bool = True,
    ) -> None:
        self.tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        self._trace_config: aiohttp.TraceConfig | None = (
            http_trace_config(self.tracer, propagate_context=propagate) if http else None
        )
        self._running = 0

    # -- hooks ---------------------------------------------------------------------------------

    @hookimpl
    def on_event(self, event: Event) -> None:
        """Open or end an attempt span, or add a span event to the current span."""
        kind = event.kind
        if kind is EventKind.ATTEMPT:
            self._open(event)
        elif kind is EventKind.SUCCESS or kind is EventKind.FAILURE:
            self._close(event)
        else:
            span = trace.get_current_span()
            if span.is_recording():
                span.add_event(kind.value, _event_attributes(event), timestamp=_ns(event.at))

    @hookimpl
    def startup(self, orchestrator: Orchestrator) -> None:
        """Register the HTTP trace config for the sessions providers open from now on."""
        self._running += 1
        if self._trace_config is not None:
            http.add_trace_config(self._trace_config)

    @hookimpl
    def shutdown(self, orchestrator: Orchestrator) -> None:
        """Unregister the HTTP trace config when no orchestrator using this plugin runs."""
        self._running = max(0, self._running - 1)
        if not self._running and self._trace_config is not None:
            http.remove_trace_config(self._trace_config)

    # -- attempts ------------------------------------------------------------------------------

    def _open(self, event: Event) -> None:
        parent = otel_context.get_current()
        span = self.tracer.start_span(
            f"attempt {event.provider}",
            context=parent,
            start_time=_ns(event.at),
            attributes=_event_attributes(event),
        )
        attempt = _Attempt(span, event.provider, event.at)
        request = parent.get(_REQUEST)
        if isinstance(request, _Request):
            request.open[id(attempt)] = attempt
        # The provider call runs next in this task: its HTTP spans become this span's children.
        attempt.token = attempt_span.set(span)
        _open_attempt.set(attempt)

    def _close(self, event: Event) -> None:
        attempt = _open_attempt.get()
        if attempt is None or attempt.provider != event.provider:
            return
        _open_attempt.set(None)
        if attempt.token is not None:
            attempt_span.reset(attempt.token)
        span = attempt.span
        if event.kind is EventKind.SUCCESS:
            span.set_attribute("polysource.outcome", "success")
        else:
            span.set_attribute("polysource.outcome", "failure")
            if event.category:
                span.set_attribute("error.type", event.category)
            span.set_status(Status(StatusCode.ERROR, event.category))
        duration = event.duration if event.duration is not None else event.at - attempt.start
        span.end(end_time=_ns(attempt.start) + _ns(duration))
        request = otel_context.get_current().get(_REQUEST)
        if isinstance(request, _Request):
            request.open.pop(id(attempt), None)

    # -- requests ------------------------------------------------------------------------------

    def traced(self, orchestrator: Orchestrator) -> TracedOrchestrator:
        """The orchestrator's request methods, each in a request span of this plugin's tracer."""
        return TracedOrchestrator(orchestrator, self.tracer)


def _event_attributes(event: Event) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name in _EVENT_FIELDS:
        value = getattr(event, name)
        if value is not None:
            attributes[f"polysource.{name}"] = value
    for name, value in event.detail.items():
        if isinstance(value, str | bool | int | float):
            attributes[f"polysource.{name}"] = value
    return attributes


@final
class TracedOrchestrator:
    """An orchestrator's ``fetch``, ``fetch_many``, ``fetch_merged`` and ``execute``, each in a
    request span; the same signatures and results (the orchestrator itself is unchanged).

    Make it with [`OtelTracing.traced()`][polysource_otel.tracing.OtelTracing.traced]; the
    provider attempt spans come from the [`OtelTracing`][polysource_otel.tracing.OtelTracing]
    plugin the orchestrator was given.

    The request span is named after the method and the dataset or operation (``fetch quote``)
    and carries ``polysource.request`` (the method), ``polysource.dataset`` or
    ``polysource.operation``, ``polysource.region`` and ``polysource.tier`` when given,
    ``polysource.key`` for a public dataset's key, and what the result says: ``polysource.source``,
    ``polysource.cached``, ``polysource.stale``, ``polysource.attempts`` (a fetch),
    ``polysource.batch.*`` counts (``fetch_many``), ``polysource.sources`` (``fetch_merged``),
    ``polysource.provider`` and ``polysource.failover_used`` (``execute``). A failure sets
    the span's status to error, ``error.type`` to the error's class, and records the error as
    an ``exception`` span event.

    Args:
        orchestrator: The orchestrator whose calls are traced.
        tracer: Where the spans are made.

    Attributes:
        orchestrator: The orchestrator (for everything else: ``health()``, ``stats()``...).
    """

    def __init__(self, orchestrator: Orchestrator, tracer: trace.Tracer) -> None:
        self.orchestrator = orchestrator
        self._tracer = tracer
        self.fetch = self._traced(orchestrator.fetch, "fetch")
        self.fetch_many = self._traced(orchestrator.fetch_many, "fetch_many")
        self.fetch_merged = self._traced(orchestrator.fetch_merged, "fetch_merged")
        self.execute = self._traced(orchestrator.execute, "execute")

    def _traced(self, method: Callable[P, Awaitable[R]], name: str) -> Callable[P, Awaitable[R]]:
        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            span, secrets = self._start(name, args, kwargs)
            request = _Request()
            token = otel_context.attach(
                otel_context.set_value(_REQUEST, request, trace.set_span_in_context(span))
            )
            try:
                result = await method(*args, **kwargs)
            except asyncio.CancelledError:
                span.set_attribute("polysource.outcome", "cancelled")
                raise
            except Exception as exc:
                _record_error(span, exc, secrets)
                raise
            else:
                _record_result(span, result)
                return result
            finally:
                otel_context.detach(token)
                end = _ns(self.orchestrator.clock.time())
                request.close(end)
                span.end(end_time=end)

        call.__name__ = call.__qualname__ = name
        call.__doc__ = method.__doc__
        return call

    def _start(
        self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[Span, tuple[str, ...]]:
        """Open the request span; answer it and the values an error message must not show."""
        operation = name == "execute"
        target = args[0] if args else kwargs.get("operation" if operation else "dataset")
        attributes: dict[str, Any] = {"polysource.request": name}
        secrets: list[str] = []
        tenant = kwargs.get("tenant")
        if isinstance(tenant, str):
            secrets.append(tenant)
        key = None
        if name in {"fetch", "fetch_merged"}:
            key = args[1] if len(args) > 1 else kwargs.get("key")
            if isinstance(key, str):
                secrets.append(key)
        shown = self._target(target, operation)
        if shown is not None:
            target_name, private = shown
            attributes["polysource.operation" if operation else "polysource.dataset"] = target_name
            if not private and is_plain_key(key):
                attributes["polysource.key"] = key
        for option in ("region", "tier"):
            value = kwargs.get(option)
            if is_plain_key(value):
                attributes[f"polysource.{option}"] = value
        span_name = f"{name} {shown[0]}" if shown is not None else name
        span = self._tracer.start_span(
            span_name,
            kind=SpanKind.INTERNAL,
            start_time=_ns(self.orchestrator.clock.time()),
            attributes=attributes,
        )
        return span, tuple(secrets)

    def _target(self, target: object, operation: bool) -> tuple[str, bool] | None:
        """The registered dataset's or operation's name and whether it is private, or ``None``
        when it is not one (the call then says what is wrong)."""
        orch = self.orchestrator
        try:
            if operation:
                name = target if isinstance(target, str) else getattr(target, "name", None)
                found = orch.registry.operations.get(name) if isinstance(name, str) else None
                return (found.name, found.private) if found is not None else None
            dataset = orch.dataset(target)  # type: ignore[arg-type]
        except PolysourceError:
            return None
        return dataset.name, dataset.private


_RESULT_FIELDS: Final = (
    "source",
    "cached",
    "stale",
    "deduplicated",
    "attempts",
    "provider",
    "failover_used",
)
_SUMMARY_FIELDS: Final = ("total", "successful", "failed", "cached", "fresh", "batches")


def _record_result(span: Span, result: Any) -> None:
    if not span.is_recording():
        return
    attributes: dict[str, Any] = {}
    for field in _RESULT_FIELDS:
        value = getattr(result, field, None)
        if isinstance(value, str | bool | int):
            attributes[f"polysource.{field}"] = value
    sources = getattr(result, "sources", None)
    if isinstance(sources, tuple):
        attributes["polysource.sources"] = [str(s) for s in sources]
    summary = getattr(result, "summary", None)
    if summary is not None:
        for field in _SUMMARY_FIELDS:
            attributes[f"polysource.batch.{field}"] = int(getattr(summary, field))
    span.set_attributes(attributes)


def _record_error(span: Span, exc: Exception, secrets: tuple[str, ...]) -> None:
    error = type(exc)
    kind = f"{error.__module__}.{error.__qualname__}"
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, error.__name__))
    span.add_event(
        "exception",
        {"exception.type": kind, "exception.message": redact(str(exc), secrets)},
    )
