"""Selection policies: the order in which a request tries its candidate providers.

The failover order of a (dataset, region) pair is resolved once from ranks, config and the
``failover_order`` hook. A selection policy then reorders it per request, from what the engine
has observed: ``priority`` keeps it (and costs nothing), ``weighted`` draws at random in
proportion to weights, ``least_latency`` puts the fastest first, ``cost`` the cheapest healthy
one first, and ``adaptive`` learns which provider gives the most successes within the deadline
per unit of cost.

Policies are plugins of ``register_selection_policies``: ``register(name, factory)`` where
``factory(config)`` returns an object with ``order`` and ``observe``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol, runtime_checkable

from attrs import define, field, frozen

__all__ = [
    "AdaptivePolicy",
    "Candidate",
    "CostPolicy",
    "LeastLatencyPolicy",
    "PriorityPolicy",
    "SelectionPolicy",
    "WeightedPolicy",
    "builtin_policies",
]


@frozen
class Candidate:
    """What a policy knows of one candidate provider.

    Attributes:
        name: The provider.
        cost: Its cost per call.
        weight: Its configured weight (``weighted``), 1.0 by default.
        uptime: Share of successes among its last 100 calls, or ``None`` if never called.
        latency: Mean latency of its last 10 successes, or ``None``.
        in_rotation: Whether health tracking keeps it in rotation.
    """

    name: str
    cost: float = 0.0
    weight: float = 1.0
    uptime: float | None = None
    latency: float | None = None
    in_rotation: bool = True


@runtime_checkable
class SelectionPolicy(Protocol):
    """Orders candidates per request; learns from the outcome of each attempt."""

    def order(self, dataset: str, region: str, candidates: Sequence[Candidate]) -> list[str]:
        """Provider names, best first (a permutation of the candidates' names)."""
        ...

    def observe(self, provider: str, ok: bool, latency: float, cost: float) -> None:
        """One attempt's outcome: success, seconds taken, cost paid."""
        ...


class PriorityPolicy:
    """The resolved failover order, unchanged (the default)."""

    is_identity: Final = True

    def order(self, dataset: str, region: str, candidates: Sequence[Candidate]) -> list[str]:
        """The candidates in failover order."""
        return [c.name for c in candidates]

    def observe(self, provider: str, ok: bool, latency: float, cost: float) -> None:
        """Nothing to learn."""


@define
class WeightedPolicy:
    """Random order, each draw in proportion to weight (config ``weight``, else uptime)."""

    rng: random.Random = field(factory=random.Random)

    def order(self, dataset: str, region: str, candidates: Sequence[Candidate]) -> list[str]:
        """Weighted random permutation (Efraimidis-Spirakis keys)."""

        def key(c: Candidate) -> float:
            weight = c.weight if c.weight != 1.0 or c.uptime is None else max(c.uptime, 0.01)
            return float(self.rng.random() ** (1.0 / max(weight, 1e-9)))

        return [c.name for c in sorted(candidates, key=key, reverse=True)]

    def observe(self, provider: str, ok: bool, latency: float, cost: float) -> None:
        """Weights come from health tracking; nothing more to learn."""


class LeastLatencyPolicy:
    """Fastest first by an exponentially weighted moving average of observed latency."""

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha
        self.ewma: dict[str, float] = {}

    def order(self, dataset: str, region: str, candidates: Sequence[Candidate]) -> list[str]:
        """Unmeasured providers keep their failover position ahead of slower measured ones."""
        return [
            c.name
            for _, c in sorted(
                enumerate(candidates),
                key=lambda item: (self.ewma.get(item[1].name, 0.0), item[0]),
            )
        ]

    def observe(self, provider: str, ok: bool, latency: float, cost: float) -> None:
        """Fold the attempt's latency (failures count as slow as they were) into the EWMA."""
        previous = self.ewma.get(provider)
        self.ewma[provider] = (
            latency if previous is None else (self.alpha * latency + (1 - self.alpha) * previous)
        )


class CostPolicy:
    """Cheapest provider first while it is in rotation; providers out of rotation last."""

    def order(self, dataset: str, region: str, candidates: Sequence[Candidate]) -> list[str]:
        """Stable sort by (not in rotation, cost)."""
        return [
            c.name
            for _, c in sorted(
                enumerate(candidates),
                key=lambda item: (not item[1].in_rotation, item[1].cost, item[0]),
            )
        ]

    def observe(self, provider: str, ok: bool, latency: float, cost: float) -> None:
        """Rotation comes from health tracking; nothing more to learn."""


@define
class _Arm:
    successes: float = 1.0
    failures: float = 1.0
    latency: float | None = None


@define
class AdaptivePolicy:
    """Thompson sampling over success, penalised by latency and cost.

    Each provider is an arm with a Beta(successes, failures) posterior of "answers well", where
    a success slower than ``slow`` seconds counts as half a failure. Old evidence decays by
    ``decay`` per observation so the policy follows a provider that degrades or recovers. Per
    request, each arm draws a success probability and is scored:

        score = draw - latency_weight * min(latency / slow, 1) - cost_weight * cost / max_cost

    and providers are tried by descending score. The draws keep exploring: a provider that
    recovers is tried again and wins back its place.

    Args:
        slow: Seconds beyond which an answer counts as poor (about the per-try timeout).
        latency_weight: Weight of the latency penalty.
        cost_weight: Weight of the cost penalty.
        decay: Factor applied to a provider's evidence at each of its observations.
        rng: Random source (seeded in tests).
    """

    slow: float = 1.0
    latency_weight: float = 0.2
    cost_weight: float = 0.2
    decay: float = 0.98
    rng: random.Random = field(factory=random.Random)
    arms: dict[str, _Arm] = field(factory=dict)

    def order(self, dataset: str, region: str, candidates: Sequence[Candidate]) -> list[str]:
        """Providers by descending sampled score."""
        max_cost = max((c.cost for c in candidates), default=0.0) or 1.0
        scored = []
        for position, candidate in enumerate(candidates):
            arm = self.arms.get(candidate.name) or _Arm()
            draw = self.rng.betavariate(arm.successes, arm.failures)
            latency = arm.latency if arm.latency is not None else 0.0
            score = (
                draw
                - self.latency_weight * min(latency / self.slow, 1.0)
                - self.cost_weight * candidate.cost / max_cost
            )
            scored.append((-score, position, candidate.name))
        return [name for _, _, name in sorted(scored)]

    def observe(self, provider: str, ok: bool, latency: float, cost: float) -> None:
        """Update the provider's posterior and latency estimate."""
        arm = self.arms.setdefault(provider, _Arm())
        arm.successes = 1.0 + (arm.successes - 1.0) * self.decay
        arm.failures = 1.0 + (arm.failures - 1.0) * self.decay
        if ok and latency <= self.slow:
            arm.successes += 1.0
        elif ok:
            arm.successes += 0.5
            arm.failures += 0.5
        else:
            arm.failures += 1.0
        arm.latency = latency if arm.latency is None else 0.3 * latency + 0.7 * arm.latency

    def expected(self, provider: str) -> float:
        """The posterior mean of the provider's success (for reports and tests)."""
        arm = self.arms.get(provider) or _Arm()
        return arm.successes / (arm.successes + arm.failures)


def builtin_policies() -> Mapping[str, Any]:
    """Factories of the built-in policies, by name: each takes the policy's options mapping."""

    def seeded(options: Mapping[str, Any]) -> random.Random:
        seed = options.get("seed")
        return random.Random(seed) if seed is not None else random.Random()

    return {
        "priority": lambda options: PriorityPolicy(),
        "weighted": lambda options: WeightedPolicy(rng=seeded(options)),
        "least_latency": lambda options: LeastLatencyPolicy(float(options.get("alpha", 0.3))),
        "cost": lambda options: CostPolicy(),
        "adaptive": lambda options: AdaptivePolicy(
            slow=float(options.get("slow", 1.0)),
            latency_weight=float(options.get("latency_weight", 0.2)),
            cost_weight=float(options.get("cost_weight", 0.2)),
            decay=float(options.get("decay", 0.98)),
            rng=seeded(options),
        ),
    }
