"""A plugin that adds the merge strategy ``newest``: keep the answer with the latest timestamp.

Use it with ``await orch.fetch_merged("quote", "AAPL", strategy="newest", min_providers=2)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from polysource import Dataset, hookimpl
from polysource.engine.merge import Answer, MergeOptions, MergeOutcome
from polysource.registry import MergeStrategyRegistrar


class Newest:
    """Keep the whole answer whose ``timestamp`` is the latest; ties go to failover order."""

    def merge(
        self, dataset: Dataset[Any], answers: Sequence[Answer], options: MergeOptions
    ) -> MergeOutcome:
        dated = [a for a in answers if getattr(a.value, "timestamp", None) is not None]
        best = max(dated, key=lambda a: a.value.timestamp) if dated else answers[0]
        provenance = {
            f.name: (best.provider,)
            for f in attrs.fields(dataset.schema)
            if getattr(best.value, f.name) is not None
        }
        return MergeOutcome(best.value, provenance)


@hookimpl
def register_merge_strategies(register: MergeStrategyRegistrar) -> None:
    register("newest", Newest())
