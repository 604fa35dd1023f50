"""JSON in and out of the gateway: results rendered, operation parameters structured.

One cattrs converter: the codec's converter for operation parameters (strict JSON types, no
unknown fields, a ``Secret`` parameter only from a plain string), copied, with one change at
the HTTP boundary: a [`Secret`][polysource.config.Secret] in a result is written as ``null`` (an
access token never leaves the process), except a link's ``link_token``, which exists to be
handed to the aggregator's front-end widget.
"""

from __future__ import annotations

from typing import Any, Final

import cattrs
import orjson

from polysource.cache.codec import params_converter
from polysource.config import Secret
from polysource.errors import InvalidRequest
from polysource.models import BatchResult, MergedResult, Operation, OperationResult, Result
from polysource.operations import Link

__all__ = ["batch_body", "dumps", "merged_body", "operation_body", "params", "result_body"]

converter: Final = params_converter.copy()
converter.register_unstructure_hook(Secret, lambda _: None)


def _link(link: Link) -> dict[str, Any]:
    return {
        "provider": link.provider,
        "link_id": link.link_id,
        "status": link.status,
        "link_token": link.link_token.reveal() if link.link_token is not None else None,
        "institution": link.institution,
    }


converter.register_unstructure_hook(Link, _link)


def dumps(value: object) -> bytes:
    """JSON bytes of a plain value."""
    return orjson.dumps(value)


def _errors(result: Result[Any] | MergedResult[Any] | OperationResult[Any]) -> list[Any]:
    from polysource.gateway.problems import provider_errors

    return provider_errors(result.errors)


def result_body(result: Result[Any]) -> bytes:
    """The body of one fetched value: data, source, staleness and earlier providers' errors.

    Only what belongs to the value is in it (how old it is and which layer answered go in
    headers), so one cached value always has the same bytes and the same ``ETag``.
    """
    return orjson.dumps(
        {
            "data": converter.unstructure(result.data),
            "source": result.source,
            "stale": result.stale,
            "errors": _errors(result),
        }
    )


def batch_body(batch: BatchResult[Any], problem: Any) -> bytes:
    """The body of a batch: per key a result or a problem, and the summary."""
    summary = batch.summary
    return orjson.dumps(
        {
            "results": {
                key: {
                    "data": converter.unstructure(r.data),
                    "source": r.source,
                    "cached": r.cached,
                    "stale": r.stale,
                    "age": r.age,
                }
                for key, r in batch.results.items()
            },
            "errors": {key: problem(error) for key, error in batch.errors.items()},
            "summary": {
                "total": summary.total,
                "successful": summary.successful,
                "failed": summary.failed,
                "cached": summary.cached,
                "fresh": summary.fresh,
                "batches": summary.batches,
                "duration": summary.duration,
            },
        }
    )


def merged_body(merged: MergedResult[Any]) -> bytes:
    """The body of a merged read: the value, where each field came from, conflicts."""
    return orjson.dumps(
        {
            "data": converter.unstructure(merged.data),
            "sources": list(merged.sources),
            "strategy": merged.strategy,
            "provenance": {k: list(v) for k, v in merged.provenance.items()},
            "conflicts": converter.unstructure(dict(merged.conflicts)),
            "excluded": dict(merged.excluded),
            "attempts": merged.attempts,
            "errors": _errors(merged),
        }
    )


def operation_body(result: OperationResult[Any]) -> bytes:
    """The body of an operation's result (secrets in it written as ``null``)."""
    return orjson.dumps(
        {
            "data": converter.unstructure(result.data),
            "provider": result.provider,
            "failover_used": result.failover_used,
            "attempts": result.attempts,
            "errors": _errors(result),
        }
    )


def params(operation: Operation[Any, Any], body: object) -> Any:
    """Structure an operation's JSON parameters into its params class.

    Raises:
        InvalidRequest: The body is not an object, or a field is missing or of the wrong type.
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidRequest(f"parameters of {operation.name!r} must be a JSON object")
    try:
        return converter.structure(body, operation.params)
    except Exception as exc:  # noqa: BLE001 - any structuring failure is the caller's input
        messages = cattrs.transform_error(exc) if isinstance(exc, ExceptionGroup) else [str(exc)]
        raise InvalidRequest(
            f"bad parameters for {operation.name!r}: {'; '.join(messages)[:200]}"
        ) from None
