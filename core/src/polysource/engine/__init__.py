"""Request pipeline stages, each existing once and composed in one place.

Every public method of the orchestrator (``fetch``, ``fetch_many``, ``fetch_merged``,
``execute``) runs through the same stages, top to bottom:

    request      one validated request type per call (dataset or operation, key(s), region,
                 tier, tenant, deadline and the per-call options)
       |
    lookup       L1 (memory): fresh / stale / negative / miss, for any call shape; a hit
       |         builds no task, no timeout, no lock and no event nobody listens to
    tiers        the shared layers (Redis, SQL) with promotion into L1       (tiers.py)
       |
    flights      local single-flight, and the fleet's when attached; single keys and
       |         batches through one scheme                        (singleflight.py, fleet.py)
    walks        serial, hedged and batched walks over the route the selection policy
       |         orders; merge and execute walk the same way     (fetch.py, batch.py,
       |                                                            merge.py, execute.py)
    call         the one provider-call component: connection lookup, coalescing, the
       |         attempt (breaker, limits, budget, per-try timeout, retries with the
       |         reserve rule), selection feedback, skip reports, events     (call.py)
    attempt      one provider, gated and timed, retried within the deadline  (attempt.py)

Beside the stages: ``route.py`` (failover orders and operator controls), ``selection.py``
(selection policies), ``health.py`` (rotation), ``guard.py`` (a shared dependency's outage
handling), ``telemetry.py`` (events only when a sink wants them), ``strategies.py`` and
``composite.py`` (merge strategies, composite datasets).

Layers, top to bottom (a module imports only from layers below it; the import-linter contract
in ``pyproject.toml`` holds the engine to this): ``strategies`` -> ``fetch`` / ``merge`` /
``execute`` / ``composite`` -> ``call`` -> ``batch`` (the coalescer and the batched walk,
which takes the call component as an argument) -> ``attempt`` -> ``fleet`` / ``tiers`` /
``selection`` / ``route`` -> ``singleflight`` / ``guard`` / ``health`` -> ``telemetry``.
Objects are built complete by the orchestrator's start-up: a provider's breaker reports to the
fleet through the ``BreakerObserver`` protocol it was built with (so ``attempt`` does not import
``fleet``), and the fleet is built with the callbacks that drop invalidated memory entries.
"""
