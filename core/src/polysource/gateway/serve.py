"""Running the gateway as a server: bind first, then say where it listens."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from aiohttp import web

from polysource.errors import ConfigError

__all__ = ["serve"]


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until ``stop`` is set or SIGINT/SIGTERM arrives.

    ``ready(url)`` is called once the socket is bound (the URL names the real port when
    ``port`` is 0), so nothing claims to serve before it does. In-flight requests are given
    the app's shutdown timeout to finish.

    Raises:
        ConfigError: The address cannot be bound (in use, not permitted, not local).
    """
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}", path="gateway.port"
            ) from None
        bound_host, bound_port = runner.addresses[0][:2]
        if ready is not None:
            ready(f"http://{bound_host}:{bound_port}")
        done = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, done.set)
        await done.wait()
    finally:
        await runner.cleanup()
