"""A telemetry plugin that posts health and breaker changes to a webhook URL.

It never blocks a request: ``on_event`` only appends to a bounded queue (when the queue is full
the oldest event is dropped and counted). A task owned by the orchestrator posts the events one
by one as JSON, with a timeout per post and a bounded number of retries with backoff; on
shutdown it is given ``drain`` seconds to send what is left. Enabled by ``[telemetry]
webhook_url``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import orjson

from polysource.clock import Clock
from polysource.events import Event, EventKind
from polysource.hookspecs import hookimpl

if TYPE_CHECKING:
    from polysource.orchestrator import Orchestrator

__all__ = ["WebhookSink"]

DEFAULT_KINDS: Final = frozenset({EventKind.HEALTH, EventKind.BREAKER})


class WebhookSink:
    """Posts events of ``kinds`` to ``url``.

    Args:
        url: Where to POST each event (JSON object, the event's fields).
        clock: For backoff sleeps.
        kinds: Event kinds to post (default: health and breaker changes).
        timeout: Seconds per post.
        retries: Extra tries per event after a failed post.
        queue_size: Most events waiting; beyond it the oldest are dropped.
        drain: Seconds allowed at shutdown to send what is queued.
    """

    plugin_name = "polysource.webhook"

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        kinds: frozenset[EventKind] = DEFAULT_KINDS,
        timeout: float = 5.0,
        retries: int = 3,
        queue_size: int = 1000,
        drain: float = 2.0,
    ) -> None:
        self.url = url
        self.clock = clock
        self.event_kinds = kinds
        self.timeout = timeout
        self.retries = retries
        self.drain = drain
        self.queue: deque[dict[str, Any]] = deque(maxlen=queue_size)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @hookimpl
    def on_event(self, event: Event) -> None:
        """Queue the event; never waits."""
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append(event.to_dict())
        self._idle.clear()
        self._wake.set()

    @hookimpl
    def startup(self, orchestrator: Orchestrator) -> None:
        """Start the sender task in the orchestrator's lifecycle."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._task = orchestrator.spawn(self._run(), name="polysource.webhook")

    @hookimpl
    async def shutdown(self, orchestrator: Orchestrator) -> None:
        """Give the sender ``drain`` seconds to empty the queue, then stop it."""
        if self._task is not None:
            try:
                async with self.clock.timeout(self.drain):
                    await self._idle.wait()
            except TimeoutError:
                pass  # what is still queued after ``drain`` seconds is given up
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            if not self.queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            body = self.queue.popleft()
            if await self._post(body):
                self.sent += 1
            else:
                self.failed += 1

    async def _post(self, body: dict[str, Any]) -> bool:
        assert self._session is not None
        data = orjson.dumps(body)
        for attempt in range(self.retries + 1):
            try:
                # No redirects: a 307/308 would re-send the events to wherever it points.
                async with self._session.post(
                    self.url,
                    data=data,
                    headers={"Content-Type": "application/json"},
                    allow_redirects=False,
                ) as response:
                    if response.status < 300:
                        return True
                    if response.status < 500 and response.status != 429:
                        return False  # a redirect or a rejection; retrying will not help
            except (aiohttp.ClientError, TimeoutError):
                pass
            if attempt < self.retries:
                await self.clock.sleep(min(2.0, 0.1 * 2**attempt))
        return False

    def __repr__(self) -> str:
        return f"WebhookSink(sent={self.sent}, failed={self.failed}, dropped={self.dropped})"
