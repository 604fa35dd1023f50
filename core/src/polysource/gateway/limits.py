"""The gateway's own limits: requests in flight per client, and each request's deadline.

Body size is bounded by aiohttp itself (``client_max_size``, checked while reading) and by the
``Content-Length`` check in [`check_body_size()`][polysource.gateway.limits.check_body_size]; batch
size by the batch route.
"""

from __future__ import annotations

from aiohttp import web

from polysource.gateway.problems import Problem

__all__ = ["InFlight", "check_body_size"]


class InFlight:
    """Counts each client's requests in flight; one over ``limit`` is answered 429.

    Args:
        limit: Requests one client may have in flight.
        retry_after: Seconds the 429 asks the client to wait.
    """

    def __init__(self, limit: int, retry_after: float = 1.0) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self._counts: dict[str, int] = {}

    def enter(self, client: str) -> None:
        """Count one more request of ``client``; raise a 429 problem when over the limit."""
        count = self._counts.get(client, 0)
        if count >= self.limit:
            raise Problem(
                429,
                "too-many-requests",
                f"at most {self.limit} requests in flight per client",
                category="rate_limit",
                retryable=True,
                retry_after=self.retry_after,
            )
        self._counts[client] = count + 1

    def leave(self, client: str) -> None:
        """Count one request of ``client`` done."""
        count = self._counts[client] - 1
        if count:
            self._counts[client] = count
        else:
            del self._counts[client]

    def __len__(self) -> int:
        return len(self._counts)


def check_body_size(request: web.Request, limit: int) -> None:
    """Refuse a body whose declared length is over ``limit`` before reading it."""
    length = request.content_length
    if length is not None and length > limit:
        raise Problem(
            413,
            "body-too-large",
            f"request body of {length} bytes is over the limit of {limit}",
            category="invalid_request",
        )
