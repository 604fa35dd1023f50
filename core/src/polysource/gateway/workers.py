"""``polysource serve --workers N``: N processes on gunicorn's aiohttp worker.

gunicorn (``polysource[serve]``) manages the processes: it binds the socket once, forks the
workers, restarts one that dies, and on SIGTERM stops accepting and gives each worker
``graceful_timeout`` seconds to finish the requests in flight. Each worker builds its own
orchestrator after the fork (nothing is shared by memory); they share state through the
configured shared tiers and fleet (Redis), so a value one worker fetched is a hit in another.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from polysource.config import Config
from polysource.errors import ConfigError

__all__ = ["run_workers"]


def run_workers(
    make_config: Callable[[], Config],
    host: str,
    port: int,
    workers: int,
    *,
    graceful_timeout: float = 30.0,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the gateway on ``host:port`` with ``workers`` processes until SIGTERM or SIGINT.

    Args:
        make_config: Builds the configuration in each worker, after the fork.
        host: Address to bind.
        port: Port to bind (0: any free one; the printed URL names it).
        workers: Number of worker processes (at least 1).
        graceful_timeout: Seconds a stopping worker waits for requests in flight.
        ready: Called with the URL once the socket is bound, before the workers start.

    Raises:
        ConfigError: gunicorn is not installed, or the address cannot be bound.
    """
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        raise ConfigError(
            "--workers needs gunicorn: install polysource[serve]", path="gateway"
        ) from None

    listener = _bind(host, port)

    async def factory() -> web.Application:
        from polysource.gateway.app import create_app
        from polysource.gateway.metrics import exporters
        from polysource.orchestrator import Orchestrator

        config = make_config()
        return create_app(Orchestrator(config, plugins=exporters(config)))

    bound_host, bound_port = listener.getsockname()[:2]
    url = (
        f"http://[{bound_host}]:{bound_port}"
        if ":" in bound_host
        else (f"http://{bound_host}:{bound_port}")
    )

    def when_ready(server: Any) -> None:
        if ready is not None:
            ready(url)

    options: dict[str, Any] = {
        "bind": f"fd://{listener.detach()}",  # gunicorn owns (and closes) the socket now
        "workers": workers,
        "worker_class": "aiohttp.GunicornWebWorker",
        "graceful_timeout": math.ceil(graceful_timeout),
        "timeout": max(30, math.ceil(graceful_timeout)),
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "when_ready": when_ready,
        "proc_name": "polysource-gateway",
    }

    class Gateway(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Callable[[], Awaitable[web.Application]]:
            return factory

    Gateway().run()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is one clear error, not retries."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", path="gateway.port"
        ) from None
    listener.set_inheritable(True)
    return listener
