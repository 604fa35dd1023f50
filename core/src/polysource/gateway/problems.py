"""RFC 9457 ``application/problem+json`` answers, and the mapping of polysource errors to them.

Every error the gateway answers is a problem document: ``type``, ``title``, ``status``,
``detail``, plus ``category``, ``retryable`` and, for provider failures, ``errors`` (one entry
per provider: its name, category, retryable, HTTP status and message). Messages pass through a
[`Redactor`][polysource.gateway.problems.Redactor] holding the deployment's secret values, so a
secret that reached a message by
mistake is masked before it leaves the process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Final

import orjson
from aiohttp import web

from polysource.errors import (
    AllProvidersFailed,
    ErrorCategory,
    InvalidRequest,
    ProviderError,
    UnknownDataset,
    UnknownOperation,
    UnknownRegion,
)

__all__ = ["PROBLEM_JSON", "Problem", "Redactor", "from_exception", "provider_errors"]

PROBLEM_JSON: Final = "application/problem+json"
_MASK: Final = "********"
_UNAVAILABLE: Final = frozenset(
    {
        ErrorCategory.RATE_LIMIT,
        ErrorCategory.BUDGET_EXHAUSTED,
        ErrorCategory.CIRCUIT_OPEN,
        ErrorCategory.PROVIDER_DOWN,
    }
)
_TITLES: Final = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class Redactor:
    """Masks the deployment's secret values (API keys, tokens, credentials) in text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        return text


class Problem(Exception):
    """An error answer; raise it from a handler, the gateway's middleware renders it.

    Args:
        status: The HTTP status.
        slug: The problem type's last part (``invalid-request``), under ``urn:polysource:``.
        detail: What went wrong, for a person (no secrets).
        category: The error category, when there is one.
        retryable: Whether the same request may succeed later.
        retry_after: Seconds to send as ``Retry-After``.
        errors: Per-provider errors, already rendered.
        extra: More members of the problem document.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        category: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        errors: Sequence[dict[str, Any]] = (),
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status
        self.slug = slug
        self.detail = detail
        self.category = category
        self.retryable = retryable
        self.retry_after = retry_after
        self.errors = list(errors)
        self.extra = extra or {}

    def document(self, redact: Redactor, instance: str) -> dict[str, Any]:
        """The problem document (``instance`` is the request's path)."""
        body: dict[str, Any] = {
            "type": f"urn:polysource:problem:{self.slug}",
            "title": _TITLES.get(self.status_code, "Error"),
            "status": self.status_code,
            "detail": redact(self.detail),
            "instance": redact(instance),
            "retryable": self.retryable,
        }
        if self.category is not None:
            body["category"] = self.category
        if self.errors:
            body["errors"] = [{**e, "message": redact(e["message"])} for e in self.errors]
        body.update(self.extra)
        return body

    def render(self, redact: Redactor, instance: str) -> web.Response:
        """The problem as a response (``instance`` is the request's path)."""
        body = self.document(redact, instance)
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        if self.status_code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="polysource"'
        return web.Response(
            status=self.status_code,
            body=orjson.dumps(body),
            content_type=PROBLEM_JSON,
            headers=headers,
        )


def provider_errors(errors: Iterable[ProviderError]) -> list[dict[str, Any]]:
    """Each provider error as a JSON object (no secrets: provider messages carry none)."""
    return [
        {
            "provider": e.provider,
            "category": e.category.value,
            "retryable": e.retryable,
            "status": e.status,
            "message": e.message,
        }
        for e in errors
    ]


def _retry_after(errors: Sequence[ProviderError]) -> float | None:
    waits = [e.retry_after for e in errors if e.retry_after is not None and e.retry_after > 0]
    return min(waits) if waits else None


def _failed(exc: AllProvidersFailed) -> Problem:
    errors = exc.errors
    categories = {e.category for e in errors}
    rendered = provider_errors(errors)
    if categories == {ErrorCategory.NOT_FOUND}:
        return Problem(
            404, "not-found", "no provider has this key", category="not_found", errors=rendered
        )
    if any(e.category is ErrorCategory.INVALID_REQUEST and not e.unsupported for e in errors):
        return Problem(
            400,
            "rejected-by-provider",
            "a provider rejected the request as invalid",
            category="invalid_request",
            errors=rendered,
        )
    if categories == {ErrorCategory.TIMEOUT}:
        status, slug, category = 504, "providers-timed-out", "timeout"
    elif categories <= _UNAVAILABLE | {ErrorCategory.TIMEOUT}:
        status, slug, category = 503, "providers-unavailable", "provider_down"
        if len(categories) == 1:
            category = next(iter(categories)).value
    else:
        status, slug = 502, "providers-failed"
        category = errors[-1].category.value if errors else "provider_down"
    return Problem(
        status,
        slug,
        f"every provider failed ({len(errors)} tried)",
        category=category,
        retryable=any(e.retryable for e in errors) or status == 503,
        retry_after=_retry_after(errors),
        errors=rendered,
    )


def from_exception(exc: Exception) -> Problem:
    """The problem a polysource error (or an unexpected one) is answered with."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, AllProvidersFailed):
        return _failed(exc)
    if isinstance(exc, UnknownDataset | UnknownOperation):
        return Problem(404, "unknown-name", str(exc), category="not_found")
    if isinstance(exc, UnknownRegion):
        return Problem(404, "not-served-in-region", str(exc), category="not_found")
    if isinstance(exc, InvalidRequest):
        return Problem(400, "invalid-request", str(exc), category="invalid_request")
    return Problem(500, "internal", "the gateway failed to answer; see its log")
