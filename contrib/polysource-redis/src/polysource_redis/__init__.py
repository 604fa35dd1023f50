"""polysource integration: Redis (or a Redis Cluster) as a shared cache tier and fleet.

The entry point ``redis`` in the ``polysource`` group names this module; its hooks claim the
URL schemes below for [`RedisBackend`][polysource_redis.backend.RedisBackend], so a tier listed in
``[cache] tiers`` is served from Redis, and for [`RedisFleet`][polysource_redis.fleet.RedisFleet],
so that ``[fleet] url`` makes the processes sharing the server share breaker state,
single-flight, invalidation, rate limits and cost budgets:

    redis://[[user]:password@]host[:port][/db][?option=value&...]
    rediss://...                       TLS; the certificate and host name are verified
    redis+cluster://host[:port][,host[:port]...][?option=value&...]
    rediss+cluster://...               Redis Cluster over TLS

Options (query parameters): ``prefix`` (of every key, default ``ps``), ``name`` (of the tier,
default ``redis``), ``socket_timeout`` and ``connect_timeout`` (seconds, default the tier
timeout, 0.25), ``max_connections`` (per server), ``password_env`` (the environment variable
holding the password, instead of writing it in the URL), ``retries`` (0 or 1; default 1 on
one server, where only a broken connection is retried, never a timeout; default 0 on a cluster),
``ssl_ca_certs`` (CA file for TLS), ``scan_count`` and ``max_scan_steps`` (bounds of
``delete_pattern``). Example: ``redis://cache:6379/0?prefix=ps&password_env=REDIS_PASSWORD``.

With ``polysource-redis[worker]`` installed, ``[jobs_queue] url = "redis://..."`` hands the
scheduled jobs to arq workers (``polysource worker``): see `polysource_redis.worker`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polysource.errors import ConfigError
from polysource.hookspecs import hookimpl
from polysource_redis.backend import RedisBackend
from polysource_redis.fleet import RedisFleet
from polysource_redis.settings import SCHEMES, RedisSettings, parse_url

if TYPE_CHECKING:
    from polysource.orchestrator import Orchestrator
    from polysource.registry import CacheBackendRegistrar, FleetBackendRegistrar

__all__ = [
    "RedisBackend",
    "RedisFleet",
    "RedisSettings",
    "SCHEMES",
    "job_runner",
    "parse_url",
    "register_cache_backends",
    "register_fleet_backends",
]


@hookimpl
def register_cache_backends(register: CacheBackendRegistrar) -> None:
    """Claim ``redis``, ``rediss``, ``redis+cluster`` and ``rediss+cluster`` URLs."""
    register(SCHEMES, RedisBackend.from_url)


@hookimpl
def register_fleet_backends(register: FleetBackendRegistrar) -> None:
    """Claim the same schemes for the fleet."""
    register(SCHEMES, RedisFleet.from_url)


@hookimpl
def job_runner(orchestrator: Orchestrator) -> object | None:
    """Run the jobs on arq workers when ``[jobs_queue] url`` is a ``redis``/``rediss`` URL."""
    config = orchestrator.config.jobs_queue
    if config.url is None or config.url.partition("://")[0].lower() not in SCHEMES:
        return None
    try:
        from polysource_redis.worker import ArqJobRunner
    except ImportError as exc:
        raise ConfigError(
            "arq is not installed; install polysource-redis[worker] to run jobs on workers",
            path="jobs_queue.url",
        ) from exc
    return ArqJobRunner(orchestrator, config)
