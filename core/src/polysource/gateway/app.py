"""The app factory: one aiohttp application over one started
[`Orchestrator`][polysource.gateway.app.Orchestrator].

``create_app(orch, config)`` returns an ``aiohttp.web.Application`` that a user may run as is
(``polysource serve``) or mount in an application of their own
(``outer.add_subapp("/data", create_app(orch))``). State lives under
[`GATEWAY`][polysource.gateway.app.GATEWAY]; the
orchestrator is started by the app's ``cleanup_ctx`` and, when ``own_orchestrator``, closed
with it. One middleware authenticates, bounds each client's requests in flight and each
request's time, and turns every error into a problem document.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import structlog
from aiohttp import web

from polysource.config import Config, GatewayConfig, Secret
from polysource.errors import AllProvidersFailed, PolysourceError, UnknownDataset
from polysource.gateway.activity import Activity
from polysource.gateway.auth import ANONYMOUS, Authenticator, Client
from polysource.gateway.limits import InFlight, check_body_size
from polysource.gateway.problems import Problem, Redactor, from_exception
from polysource.gateway.quotas import Quotas
from polysource.models import Dataset
from polysource.orchestrator import Orchestrator

__all__ = ["CLIENT", "GATEWAY", "Gateway", "create_app"]

_log = structlog.get_logger("polysource.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CLIENT: Final = web.RequestKey("polysource_client", Client)
"""Request key of the verified [`Client`][polysource.gateway.auth.Client]."""


class Gateway:
    """What the handlers share: the orchestrator, the ``[gateway]`` settings, auth, limits.

    Args:
        orch: The orchestrator every route uses (through its public API only).
        config: The ``[gateway]`` settings.
        secrets: Secret values to mask in any error text (keys, tokens, credentials).
    """

    def __init__(self, orch: Orchestrator, config: GatewayConfig, secrets: list[str]) -> None:
        self.orch = orch
        self.config = config
        self.auth = Authenticator(config)
        self.redact = Redactor(secrets)
        self.in_flight = InFlight(config.max_concurrency)
        self.quotas = Quotas(Config(gateway=config))
        """Per-key quotas and budgets (``create_app`` gives it the whole configuration)."""
        self.started = False
        self.openapi: bytes | None = None
        """The OpenAPI document's bytes, built at the first request for it."""
        self.activity = Activity()
        """Recent failovers and failures, for the dashboard."""
        self.started_at: float | None = None
        self.metrics: Callable[[str], tuple[str, bytes] | None] | None = None
        """Renders ``/metrics`` (content type, body) for an ``Accept`` header; set at start-up
        from the ``metrics_exposition`` hooks, ``None`` without an exporter."""
        self.closing = asyncio.Event()
        """Set when the app shuts down: long-lived streams end so the server can drain."""

    def note(self, dataset: str, key: str | None, outcome: object) -> None:
        """Record a failover (a result with earlier providers' errors) or a failure."""
        ds = self.orch.registry.datasets.get(dataset)
        shown = None if ds is None or ds.private else key
        errors = getattr(outcome, "errors", ())
        if isinstance(outcome, AllProvidersFailed):
            self.activity.failure(dataset, shown, errors)
        elif errors and hasattr(outcome, "source"):
            self.activity.failover(dataset, shown, outcome.source, errors)

    def dataset(self, name: str) -> Dataset[Any]:
        """The registered dataset ``name`` (a 404 problem when there is none)."""
        found = self.orch.registry.datasets.get(name)
        if found is None:
            raise from_exception(UnknownDataset(name, list(self.orch.registry.datasets)))
        return found

    def tenant(self, client: Client, private: bool, what: str) -> str | None:
        """The tenant a request of ``client`` acts as: the key's for private data, else none.

        Raises:
            Problem: 401 for an anonymous client, 403 for a key without a tenant.
        """
        if not private:
            return None
        if client is ANONYMOUS:
            raise Problem(401, "unauthenticated", f"{what} needs an API key with a tenant")
        if client.tenant is None:
            raise Problem(403, "no-tenant", f"{what} needs an API key with a tenant")
        return client.tenant

    def deadline(self, asked: float | None) -> float | None:
        """The orchestrator deadline for a request that asked for ``asked`` seconds."""
        return None if asked is None else min(asked, self.config.deadline)


GATEWAY: Final = web.AppKey("polysource_gateway", Gateway)


def _secrets(config: Config) -> list[str]:
    every: list[Secret] = [k.key for k in config.gateway.api_keys.values()]
    if config.gateway.admin_token is not None:
        every.append(config.gateway.admin_token)
    if config.gateway.jwt is not None:
        every.append(config.gateway.jwt.key)
    for provider in config.providers.values():
        every.extend(provider.credentials.values())
    return [s.reveal() for s in every if s.is_available]


def _client_id(request: web.Request, client: Client) -> str:
    return f"key:{client.name}" if client.name is not None else f"addr:{request.remote}"


def _middleware(gw: Gateway) -> Any:
    deadline = gw.config.deadline
    max_body = gw.config.max_body

    @web.middleware
    async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        client_id: str | None = None
        entered = False
        try:
            route = request.match_info.route.name or ""
            kind = route.partition(":")[0]
            if kind == "admin":
                gw.auth.require_admin(request)
                client_id = "admin"
            elif kind == "data":
                client = gw.auth.client(request)
                request[CLIENT] = client
                client_id = _client_id(request, client)
            if client_id is not None:
                gw.in_flight.enter(client_id)
                entered = True
            check_body_size(request, max_body)
            if kind == "stream":  # a server-sent event stream outlives any deadline
                return await handler(request)
            async with asyncio.timeout(deadline):
                return await handler(request)
        except Problem as exc:
            return exc.render(gw.redact, request.path)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            slug = "route-not-found" if exc.status == 404 else f"http-{exc.status}"
            return Problem(exc.status, slug, exc.reason, category="invalid_request").render(
                gw.redact, request.path
            )
        except TimeoutError:
            return Problem(
                504,
                "deadline",
                f"the request took more than the gateway's {deadline:g} s deadline",
                category="timeout",
                retryable=True,
            ).render(gw.redact, request.path)
        except PolysourceError as exc:
            if isinstance(exc, AllProvidersFailed) and "dataset" in request.match_info:
                gw.note(request.match_info["dataset"], request.match_info.get("key"), exc)
            answer = from_exception(exc)
            if answer.slug == "internal":
                _log.error("gateway_error", error=type(exc).__name__, path=request.path)
            return answer.render(gw.redact, request.path)
        except Exception as exc:  # noqa: BLE001 - any failure is answered, never a traceback
            _log.error("gateway_error", error=type(exc).__name__, path=request.path)
            return from_exception(exc).render(gw.redact, request.path)
        finally:
            if entered:
                gw.in_flight.leave(client_id)  # type: ignore[arg-type]

    return gateway_middleware


def create_app(
    orch: Orchestrator,
    config: Config | GatewayConfig | None = None,
    *,
    own_orchestrator: bool = True,
) -> web.Application:
    """Build the gateway application over ``orch``.

    Args:
        orch: The orchestrator to serve; started with the app if it is not yet.
        config: The whole configuration or its ``[gateway]`` section (default: the
            orchestrator's).
        own_orchestrator: Close the orchestrator when the app shuts down.

    Raises:
        ConfigError: An API key or the admin token cannot be revealed or is too weak.
    """
    from polysource.gateway import admin, dashboard, data, health, openapi
    from polysource.gateway.metrics import exposition

    whole = config if isinstance(config, Config) else orch.config
    section = config if isinstance(config, GatewayConfig) else whole.gateway
    gw = Gateway(orch, section, _secrets(whole))
    gw.quotas = Quotas(whole)
    app = web.Application(middlewares=[_middleware(gw)], client_max_size=section.max_body)
    app[GATEWAY] = gw
    # Fixed paths first: /v1/{dataset}/{key} would match /v1/admin/stats otherwise.
    admin.add_routes(app)
    dashboard.add_routes(app)
    health.add_routes(app)
    openapi.add_routes(app)
    data.add_routes(app)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await orch.start()
        gw.metrics = exposition(orch.registry.metrics_exposition)
        gw.quotas.start()
        gw.started = True
        gw.started_at = time.time()
        try:
            yield
        finally:
            gw.started = False
            await gw.quotas.close()
            if own_orchestrator:
                await orch.close()

    async def closing(_: web.Application) -> None:
        gw.closing.set()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(closing)
    return app
