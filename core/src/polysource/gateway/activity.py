"""What the dashboard shows as recent activity: failovers and failed requests, newest first.

Only names are kept (dataset, provider, error category), never a message, so nothing a
provider said and no secret ends up on the dashboard. A key of a private dataset is not kept.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from typing import Any

from polysource.errors import ProviderError

__all__ = ["Activity"]


class Activity:
    """A bounded log of failovers and failures seen by the gateway's requests.

    Args:
        size: How many entries to keep.
    """

    def __init__(self, size: int = 50) -> None:
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self.failovers = 0
        self.failures = 0

    def _add(
        self,
        kind: str,
        dataset: str,
        key: str | None,
        source: str | None,
        errors: Iterable[ProviderError],
    ) -> None:
        self._entries.appendleft(
            {
                "at": time.time(),
                "kind": kind,
                "dataset": dataset,
                "key": key,
                "source": source,
                "errors": [f"{e.provider}: {e.category.value}" for e in errors],
            }
        )

    def failover(
        self,
        dataset: str,
        key: str | None,
        source: str,
        errors: Iterable[ProviderError],
    ) -> None:
        """A request answered by ``source`` after the providers of ``errors`` failed."""
        self.failovers += 1
        self._add("failover", dataset, key, source, errors)

    def failure(self, dataset: str, key: str | None, errors: Iterable[ProviderError]) -> None:
        """A request every provider failed."""
        self.failures += 1
        self._add("failure", dataset, key, None, errors)

    def recent(self) -> list[dict[str, Any]]:
        """The entries, newest first."""
        return list(self._entries)
