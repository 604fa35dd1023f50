"""Configuration: ``polysource.toml`` structured into attrs classes with cattrs.

Values may be overridden by environment variables ``POLYSOURCE_<SECTION>__<KEY>`` (``__``
separates levels, values are parsed as TOML values when they parse, else taken as strings).
Secrets are never written in the file: ``api_key = { env = "TIINGO_API_KEY" }`` or
``{ file = "/run/secrets/tiingo" }``; they are held in [`Secret`][polysource.config.Secret], whose
repr is masked.
Every bad value raises [`ConfigError`][polysource.errors.ConfigError] naming the key path.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import attrs
import cattrs
from attrs import define, field, frozen
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, override

from polysource.errors import ConfigError
from polysource.models import TIERS
from polysource.redaction import mask_url

__all__ = [
    "BreakerConfig",
    "BudgetConfig",
    "CacheConfig",
    "Config",
    "DatasetConfig",
    "FleetConfig",
    "GatewayConfig",
    "GatewayJwtConfig",
    "GatewayKeyConfig",
    "JobConfig",
    "JobsQueueConfig",
    "PluginsConfig",
    "ProviderConfig",
    "RetryConfig",
    "Secret",
    "SecurityConfig",
    "TelemetryConfig",
    "load_config",
]

ENV_PREFIX: Final = "POLYSOURCE_"
_MASK: Final = "********"


def _url_repr(value: str | tuple[str, ...] | None) -> str:
    """The repr of a URL setting (or a tuple of them) with its credentials masked."""
    if isinstance(value, tuple):
        return repr(tuple(mask_url(url) for url in value))
    return repr(value if value is None else mask_url(value))


@frozen(repr=False)
class Secret:
    """A credential whose value never shows in a repr, a log line or an error.

    Build it from the environment (``Secret(env="NAME")``), from a file
    (``Secret(file="path")``) or from a value in code (``Secret.of("...")``).
    """

    env: str | None = None
    file: str | None = None
    _value: str | None = field(default=None, alias="value", eq=False)

    @classmethod
    def of(cls, value: str) -> Secret:
        """Wrap a value obtained in code (a token returned by a provider, for example)."""
        return cls(value=value)

    def reveal(self) -> str:
        """Return the secret's value; raise ``ConfigError`` naming the source if it is absent."""
        if self._value is not None:
            return self._value
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"environment variable {self.env} is not set")
            return value
        if self.file is not None:
            try:
                return Path(self.file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {self.file}: {exc.strerror}") from None
        raise ConfigError("secret has no value, env or file")

    @property
    def is_available(self) -> bool:
        """Whether `reveal()` would succeed."""
        try:
            self.reveal()
        except ConfigError:
            return False
        return True

    def __repr__(self) -> str:
        source = f"env={self.env!r}" if self.env else f"file={self.file!r}" if self.file else ""
        return f"Secret({_MASK}{', ' + source if source else ''})"

    __str__ = __repr__


@define
class RetryConfig:
    """Retries of one provider before failing over.

    Args:
        attempts: Tries per provider, the first included (1 = no retry).
        base_delay: First backoff ceiling in seconds; full jitter picks in [0, ceiling].
        max_delay: Largest backoff ceiling.
        budget_ratio: Retries allowed as a share of calls (Envoy-style retry budget).
        min_retries: Retries always allowed per budget window, however few the calls.
    """

    attempts: int = 2
    base_delay: float = 0.05
    max_delay: float = 2.0
    budget_ratio: float = 0.2
    min_retries: int = 10


@define
class BreakerConfig:
    """Circuit breaker thresholds of one provider."""

    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    half_open_trials: int = 1
    success_threshold: int = 1


@define
class BudgetConfig:
    """A cost budget: at most ``limit`` cost units per ``period`` (also written ``per``).

    Args:
        limit: Cost units allowed per window.
        period: The window: ``second``, ``minute``, ``hour``, ``day`` or ``month``.
        tz: An IANA time zone (``America/New_York``): a ``day`` starts at its local midnight
            and a ``month`` on the 1st (calendar months). Unset: windows aligned on the epoch
            (UTC days, 30-day months).
        cron: A five-field cron expression (``0 9 * * 1``): each match starts a window,
            in ``tz`` (UTC if unset); ``period`` is then ignored.
    """

    limit: float
    period: Literal["second", "minute", "hour", "day", "month"] = "day"
    tz: str | None = None
    cron: str | None = None


@define
class ProviderConfig:
    """Settings of one provider (section ``[providers.NAME]``)."""

    enabled: bool = True
    timeout: float = 5.0
    retry: RetryConfig = field(factory=RetryConfig)
    breaker: BreakerConfig = field(factory=BreakerConfig)
    rate_limits: tuple[str, ...] | None = None
    cost_per_call: float | None = None
    budget: BudgetConfig | None = None
    credentials: dict[str, Secret] = field(factory=dict)
    base_url: str | None = field(default=None, repr=_url_repr)
    regions: dict[str, int] | None = None
    down_after: int = 5
    probe_interval: float = 30.0
    coalesce: bool = True
    coalesce_window: float = 0.0
    weight: float = 1.0
    options: dict[str, Any] = field(factory=dict)


@define
class DatasetConfig:
    """Overrides of one dataset's cache policy and request behaviour."""

    ttl: dict[str, float] | None = None
    stale: float | None = None
    cacheable: bool | None = None
    negative_ttl: float | None = None
    revalidate: bool | None = None
    hedge_delay: float | None = None
    merge: str | None = None


@define
class CacheConfig:
    """Cache tiers, as URLs, tried in order (``memory://`` is the L1)."""

    tiers: tuple[str, ...] = field(default=("memory://",), repr=_url_repr)
    max_entries: int = 100_000
    max_bytes: int = 256 * 1024 * 1024
    tier_timeout: float = 0.25
    tier_cooldown: float = 5.0


@define
class FleetConfig:
    """Coordination of the processes that share one Redis (section ``[fleet]``).

    Args:
        url: The fleet backend's URL (``redis://...``; a scheme a plugin claims). Unset: every
            process keeps breakers, single-flight and invalidation to itself.
        timeout: Seconds any one fleet operation may take (also each operation on a
            ``rate_limit_storage`` of its own).
        cooldown: Seconds the fleet stays detached after a failure (requests run
            process-local meanwhile; the same for a ``rate_limit_storage`` of its own).
        breakers: Share breaker state (failure counts, open/close, one half-open trial).
        single_flight: Let one process call the providers for identical concurrent misses.
        lease: Seconds a single-flight lease lasts at most.
        failure_window: Seconds a fleet-wide failure count lives after its last failure.
        rate_limits: Share rate limits and cost budgets through the same servers (unless
            ``rate_limit_storage`` names another storage).
    """

    url: str | None = field(default=None, repr=_url_repr)
    timeout: float = 0.25
    cooldown: float = 5.0
    breakers: bool = True
    single_flight: bool = True
    lease: float = 10.0
    failure_window: float = 60.0
    rate_limits: bool = True


@define
class AuditConfig:
    """The provider-attempt audit log (section ``[audit]``).

    Args:
        url: Where rows go (``sqlite:///path.db``, ``postgresql://...``; a scheme a plugin
            serves through the ``audit_log`` hook, ``polysource[sql]`` for these). Unset: no
            audit log.
        retention_days: Rows older than this many days are deleted (``None``: kept).
    """

    url: str | None = field(default=None, repr=_url_repr)
    retention_days: float | None = 30.0


@define
class SecurityConfig:
    """The deployment secret (section ``[security]``).

    Args:
        secret: A secret every process of the deployment shares, written
            ``secret = { env = "POLYSOURCE_SECRET" }`` (or ``{ file = "..." }``), at least 32
            random characters. It keys the tenant digests that isolate private data in shared
            cache tiers and fleet answers, and signs fleet messages: a shared tier serving a
            private dataset, and a fleet, need it. Unset: memory-only use.
    """

    secret: Secret | None = None


@define
class TelemetryConfig:
    """Built-in telemetry sinks (section ``[telemetry]``).

    Args:
        prometheus: Export Prometheus metrics at the gateway's ``GET /metrics`` (needs
            ``polysource[prometheus]``; ``polysource serve`` refuses to start without it).
    """

    prometheus: bool = False
    log: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    stats: bool = True
    webhook_url: str | None = field(default=None, repr=_url_repr)
    webhook_timeout: float = 5.0
    webhook_retries: int = 3


@define
class GatewayKeyConfig:
    """One API key of the HTTP gateway (section ``[gateway.api_keys.NAME]``).

    Args:
        key: The key clients send as ``Authorization: Bearer KEY`` (a secret).
        tenant: The tenant the key acts as; private datasets and operations need one.
        tier: The tier its requests use unless they ask for another (default from config).
        quota: Requests the key may make per window, in ``limits`` notation (``"1000/hour"``);
            429 with ``Retry-After`` above. Unset: no quota.
        budget: Cost units the key may spend per window (``"500/day"``); a request costs its
            dataset's or operation's ``[gateway] costs`` entry (1 by default) per key asked
            for. 429 with ``Retry-After`` above. Unset: no budget.
    """

    key: Secret
    tenant: str | None = None
    tier: str | None = None
    quota: str | None = None
    budget: str | None = None


@define
class GatewayJwtConfig:
    """Bearer JWTs the gateway accepts beside API keys (section ``[gateway.jwt]``).

    Args:
        key: The verification key: a PEM public key for ``RS*``/``ES*``/``PS*``/``EdDSA``, the
            shared secret for ``HS*`` (a secret, ``{ env = ... }`` or ``{ file = ... }``).
        algorithms: The only algorithms accepted (``none`` never is).
        audience: The ``aud`` a token must carry (unset: tokens with an ``aud`` are refused).
        issuer: The ``iss`` a token must carry (unset: not checked).
        tenant_claim: The claim naming the tenant; a token without it is refused.
        leeway: Seconds of clock skew allowed on ``exp`` and ``nbf``.
    """

    key: Secret
    algorithms: tuple[str, ...] = ("RS256",)
    audience: str | None = None
    issuer: str | None = None
    tenant_claim: str = "tenant"
    leeway: float = 0.0


@define
class GatewayConfig:
    """The HTTP gateway ``polysource serve`` (section ``[gateway]``).

    Args:
        host: Address to listen on.
        port: Port to listen on.
        api_keys: Key name to its key and tenant; the name identifies the client in limits.
        admin_token: Bearer token of the ``/v1/admin/`` routes; unset: they answer 404.
        anonymous: Whether public datasets may be read without an API key.
        max_body: Largest request body in bytes (413 above).
        max_batch: Most keys one batch request may ask for (400 above).
        max_concurrency: Requests one client may have in flight (429 above).
        deadline: Seconds one request may take at most (504 after).
        max_key_length: Longest key accepted in a URL (400 above).
        jwt: Bearer JWTs accepted beside the API keys (needs ``polysource[serve]``).
        costs: Cost units one key of a dataset or operation spends from an API key's
            ``budget`` (1 when not listed).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: dict[str, GatewayKeyConfig] = field(factory=dict)
    admin_token: Secret | None = None
    anonymous: bool = True
    max_body: int = 1024 * 1024
    max_batch: int = 100
    max_concurrency: int = 32
    deadline: float = 30.0
    max_key_length: int = 256
    jwt: GatewayJwtConfig | None = None
    costs: dict[str, int] = field(factory=dict)


@define
class RefreshJobConfig:
    """What a refresh job fetches anew: ``keys`` and/or the keys of ``keyset``."""

    dataset: str
    keys: tuple[str, ...] = ()
    keyset: str | None = None
    region: str | None = None


@define
class PurgeJobConfig:
    """What a purge job drops: ``dataset`` (or every dataset) from memory, or ``everywhere``."""

    dataset: str | None = None
    everywhere: bool = False


@define
class BudgetResetJobConfig:
    """Whose cost budgets a budget reset job resets (empty: every provider's)."""

    providers: tuple[str, ...] = ()


@define
class JobConfig:
    """One scheduled job (an entry of ``[[jobs]]``); exactly one of its kinds is set.

    Args:
        name: Unique name (``polysource jobs run NAME``).
        every: Interval: ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"`` or seconds.
        cron: A five-field cron expression, instead of ``every``.
        tz: The IANA time zone of ``cron`` (UTC if unset).
        paused: Start paused (run only when forced, until resumed).
        refresh: Fetch keys anew through the pipeline.
        purge: Drop cached entries.
        budget_reset: Reset cost budgets.
    """

    name: str
    every: str | float | None = None
    cron: str | None = None
    tz: str | None = None
    paused: bool = False
    refresh: RefreshJobConfig | None = None
    purge: PurgeJobConfig | None = None
    budget_reset: BudgetResetJobConfig | None = None


@define
class JobsQueueConfig:
    """Where workers take the jobs from (section ``[jobs_queue]``).

    Args:
        url: The queue's URL (``redis://...``; a scheme a ``job_runner`` plugin claims). Set:
            no process runs a schedule of its own; ``polysource worker`` processes run each
            scheduled tick once among them. Unset: each process runs its jobs in-process.
        queue: Name of the queue (and prefix of its run records).
        job_timeout: Seconds one run may take before it is cancelled and tried again.
        max_tries: Runs of one tick at most (a worker killed mid-run leaves a tick that
            another worker runs again, after ``job_timeout`` plus the queue's grace period).
    """

    url: str | None = field(default=None, repr=_url_repr)
    queue: str = "polysource:jobs"
    job_timeout: float = 300.0
    max_tries: int = 3


@define
class PluginsConfig:
    """Which plugins load: ``block`` names plugins to skip, ``only`` (if set) the only ones."""

    block: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    strict: bool = False


@define
class Config:
    """The whole configuration; ``Config()`` is the default."""

    region: str = "global"
    tier: str = "free"
    deadline: float = 10.0
    selection: str = "priority"
    selection_options: dict[str, Any] = field(factory=dict)
    rate_limit_storage: str | None = field(default=None, repr=_url_repr)
    rate_limit_prefix: str = "polysource"
    batch_concurrency: int = 4
    providers: dict[str, ProviderConfig] = field(factory=dict)
    routing: dict[str, dict[str, tuple[str, ...]]] = field(factory=dict)
    datasets: dict[str, DatasetConfig] = field(factory=dict)
    cache: CacheConfig = field(factory=CacheConfig)
    fleet: FleetConfig = field(factory=FleetConfig)
    audit: AuditConfig = field(factory=AuditConfig)
    security: SecurityConfig = field(factory=SecurityConfig)
    telemetry: TelemetryConfig = field(factory=TelemetryConfig)
    plugins: PluginsConfig = field(factory=PluginsConfig)
    gateway: GatewayConfig = field(factory=GatewayConfig)
    jobs: tuple[JobConfig, ...] = ()
    keysets: dict[str, tuple[str, ...]] = field(factory=dict)
    jobs_queue: JobsQueueConfig = field(factory=JobsQueueConfig)

    def provider(self, name: str) -> ProviderConfig:
        """The config of provider ``name`` (defaults when it has no section)."""
        return self.providers.get(name) or ProviderConfig()


def _structure_secret(value: object, _: type) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"env"} and isinstance(value["env"], str):
            return Secret(env=value["env"])
        if keys == {"file"} and isinstance(value["file"], str):
            return Secret(file=value["file"])
    raise ValueError(
        'a secret is written as { env = "VARIABLE" } or { file = "path" }, never as a literal value'
    )


class _WrongType(ValueError):
    """A value of the wrong TOML type; the message says what was expected."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _structure_int(value: object, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _WrongType(f"expected an integer, got {_shown(value)}")
    return value


def _structure_float(value: object, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _WrongType(f"expected a number, got {_shown(value)}")
    return float(value)


def _structure_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise _WrongType(f"expected true or false, got {_shown(value)}")
    return value


def _structure_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise _WrongType(f"expected a string, got {_shown(value)}")
    return value


def _structure_strings(value: object, _: type) -> tuple[str, ...]:
    """A list of strings; one string is a list of one (``only = "tiingo"``)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise _WrongType(f"expected a list of strings, got {_shown(value)}")
    return tuple(_structure_str(item, str) for item in value)


def _structure_every(value: object, _: type) -> str | float | None:
    if value is None or isinstance(value, str):
        return value
    return _structure_float(value, float)


def _structure_ttl(value: object, _: type) -> dict[str, float] | None:
    """A TTL per tier; one number is that TTL for every tier (``ttl = 900``)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dict.fromkeys(TIERS, float(value))
    if not isinstance(value, Mapping):
        raise _WrongType(f"expected seconds or a table of tier = seconds, got {_shown(value)}")
    return {str(tier): _structure_float(ttl, float) for tier, ttl in value.items()}


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(Secret, _structure_secret)
    conv.register_unstructure_hook(Secret, repr)
    # cattrs' own hooks call int(), float(), bool(), str() and tuple(): 2.7 would become 2,
    # true 1.0, "no" True and "memory://" a tuple of letters.
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_strings)
    conv.register_structure_hook(
        DatasetConfig,
        make_dict_structure_fn(
            DatasetConfig,
            conv,
            _cattrs_forbid_extra_keys=True,
            ttl=override(struct_hook=_structure_ttl),
        ),
    )
    conv.register_structure_hook(
        JobConfig,
        make_dict_structure_fn(
            JobConfig,
            conv,
            _cattrs_forbid_extra_keys=True,
            every=override(struct_hook=_structure_every),
        ),
    )
    budget_fn = make_dict_structure_fn(BudgetConfig, conv, _cattrs_forbid_extra_keys=True)

    def structure_budget(value: Any, type_: type) -> BudgetConfig:
        if isinstance(value, Mapping) and "per" in value and "period" not in value:
            value = {("period" if k == "per" else k): v for k, v in value.items()}
        return budget_fn(value, type_)

    conv.register_structure_hook(BudgetConfig, structure_budget)
    return conv


_converter: Final = _make_converter()


def _format_exception(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        valid = [a.name for a in attrs.fields(exc.cl)]
        parts = []
        for extra in sorted(exc.extra_fields):
            near = difflib.get_close_matches(extra, valid, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            parts.append(f"unknown key {extra!r}{hint}")
        return "; ".join(parts) + f"; valid keys: {', '.join(valid)}"
    if isinstance(exc, _WrongType) or (isinstance(exc, ValueError) and "secret" in str(exc)):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required key missing"
    if typing.get_origin(type_) is Literal:
        allowed = ", ".join(repr(v) for v in typing.get_args(type_))
        return f"invalid value; allowed: {allowed}"
    name = getattr(type_, "__name__", None) or str(type_)
    return f"invalid value for type {name}: {type(exc).__name__}" + (
        f" ({exc})" if isinstance(exc, ValueError) and "secret" not in str(exc) else ""
    )


def structure_config(data: Mapping[str, Any]) -> Config:
    """Structure a config mapping; raise ``ConfigError`` naming the first bad key path."""
    try:
        config = _converter.structure(dict(data), Config)
    except ClassValidationError as exc:
        messages = cattrs.transform_error(exc, path="", format_exception=_format_exception)
        first = messages[0] if messages else str(exc)
        message, _, path = first.partition(" @ ")
        path = re.sub(r"\['([^']*)'\]", r".\1", path).lstrip(".")
        raise ConfigError(message, path=path or "(root)") from None
    _check(config)
    return config


def _check(config: Config) -> None:
    if config.tier not in TIERS:
        raise ConfigError(
            f"unknown tier {config.tier!r}; tiers are {', '.join(TIERS)}", path="tier"
        )
    if config.deadline <= 0:
        raise ConfigError(f"must be > 0, got {config.deadline}", path="deadline")
    for name, provider in config.providers.items():
        base = f"providers.{name}"
        if provider.timeout <= 0:
            raise ConfigError(f"must be > 0, got {provider.timeout}", path=f"{base}.timeout")
        if provider.retry.attempts < 1:
            raise ConfigError("must be >= 1", path=f"{base}.retry.attempts")
        if provider.breaker.failure_threshold < 1:
            raise ConfigError("must be >= 1", path=f"{base}.breaker.failure_threshold")
        for limit in provider.rate_limits or ():
            _check_rate_limit(limit, f"{base}.rate_limits")
        if provider.budget is not None:
            _check_budget(provider.budget, f"{base}.budget")
    for name, dataset in config.datasets.items():
        for tier, ttl in (dataset.ttl or {}).items():
            if tier not in TIERS:
                raise ConfigError(
                    f"unknown tier {tier!r}; tiers are {', '.join(TIERS)}",
                    path=f"datasets.{name}.ttl",
                )
            if ttl < 0:
                raise ConfigError(f"must be >= 0, got {ttl}", path=f"datasets.{name}.ttl.{tier}")
    for tier_url in config.cache.tiers:
        if "://" not in tier_url:
            raise ConfigError(f"cache tier {tier_url!r} is not a URL", path="cache.tiers")
    fleet = config.fleet
    if fleet.url is not None and "://" not in fleet.url:
        raise ConfigError("is not a URL (write scheme://host...)", path="fleet.url")
    for name in ("timeout", "cooldown", "lease", "failure_window"):
        if getattr(fleet, name) <= 0:
            raise ConfigError(f"must be > 0, got {getattr(fleet, name)}", path=f"fleet.{name}")
    audit = config.audit
    if audit.url is not None and "://" not in audit.url:
        raise ConfigError("is not a URL (write scheme://...)", path="audit.url")
    if audit.retention_days is not None and audit.retention_days <= 0:
        raise ConfigError(
            f"must be > 0 (leave it out to keep rows), got {audit.retention_days}",
            path="audit.retention_days",
        )
    _check_gateway(config.gateway)
    _check_jobs(config)
    _check_jobs_queue(config)


def _check_jobs_queue(config: Config) -> None:
    queue = config.jobs_queue
    if queue.url is not None and "://" not in queue.url:
        raise ConfigError("is not a URL (write scheme://host...)", path="jobs_queue.url")
    if not queue.queue:
        raise ConfigError("must not be empty", path="jobs_queue.queue")
    if queue.job_timeout <= 0:
        raise ConfigError(f"must be > 0, got {queue.job_timeout}", path="jobs_queue.job_timeout")
    if queue.max_tries < 1:
        raise ConfigError(f"must be >= 1, got {queue.max_tries}", path="jobs_queue.max_tries")


def _check_jobs(config: Config) -> None:
    from polysource.jobs.model import parse_interval

    seen: set[str] = set()
    for index, job in enumerate(config.jobs):
        path = f"jobs[{index}]"
        if job.name in seen:
            raise ConfigError(f"job name {job.name!r} is used twice", path=f"{path}.name")
        seen.add(job.name)
        kinds = [k for k in ("refresh", "purge", "budget_reset") if getattr(job, k) is not None]
        if len(kinds) != 1:
            raise ConfigError(
                "set exactly one of refresh, purge, budget_reset"
                + (f" (got {', '.join(kinds)})" if kinds else ""),
                path=path,
            )
        if (job.every is None) == (job.cron is None):
            raise ConfigError("set exactly one of every, cron", path=path)
        if job.every is not None:
            parse_interval(job.every, f"{path}.every")
        if job.cron is not None:
            check_cron(job.cron, f"{path}.cron")
        if job.tz is not None:
            check_zone(job.tz, f"{path}.tz")
        refresh = job.refresh
        if refresh is not None:
            if not refresh.keys and refresh.keyset is None:
                raise ConfigError("set keys or keyset", path=f"{path}.refresh")
            if refresh.keyset is not None and refresh.keyset not in config.keysets:
                raise ConfigError(
                    f"unknown key set {refresh.keyset!r}; [keysets] has "
                    f"{', '.join(sorted(config.keysets)) or '(none)'}",
                    path=f"{path}.refresh.keyset",
                )


def _check_gateway(gateway: GatewayConfig) -> None:
    for name in ("max_body", "max_batch", "max_concurrency", "max_key_length", "deadline"):
        if getattr(gateway, name) <= 0:
            raise ConfigError(f"must be > 0, got {getattr(gateway, name)}", path=f"gateway.{name}")
    if not 0 <= gateway.port <= 65535:
        raise ConfigError(f"must be a port (0-65535), got {gateway.port}", path="gateway.port")
    for name, key in gateway.api_keys.items():
        if key.tier is not None and key.tier not in TIERS:
            raise ConfigError(
                f"unknown tier {key.tier!r}; tiers are {', '.join(TIERS)}",
                path=f"gateway.api_keys.{name}.tier",
            )
        for what in ("quota", "budget"):
            limit = getattr(key, what)
            if limit is not None:
                _check_rate_limit(limit, f"gateway.api_keys.{name}.{what}")
    for name, cost in gateway.costs.items():
        if cost < 0:
            raise ConfigError(f"must be >= 0, got {cost}", path=f"gateway.costs.{name}")
    if gateway.jwt is not None:
        if not gateway.jwt.algorithms:
            raise ConfigError("name at least one algorithm", path="gateway.jwt.algorithms")
        if any(alg.lower() == "none" for alg in gateway.jwt.algorithms):
            raise ConfigError("'none' is never accepted", path="gateway.jwt.algorithms")


def check_zone(tz: str, path: str) -> None:
    """Raise ``ConfigError`` at ``path`` unless ``tz`` names an IANA time zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {_shown(tz)}; write an IANA name like 'America/New_York'",
            path=path,
        ) from None


def check_cron(expr: str, path: str) -> None:
    """Raise ``ConfigError`` at ``path`` unless ``expr`` is a five-field cron expression."""
    from datetime import UTC, datetime

    from cronsim import CronSim, CronSimError

    try:
        CronSim(expr, datetime.now(UTC))
    except CronSimError as exc:
        raise ConfigError(
            f"invalid cron expression {_shown(expr)} ({exc}); write it like '0 0 * * *'",
            path=path,
        ) from None


def _check_budget(budget: BudgetConfig, path: str) -> None:
    if budget.limit < 0:
        raise ConfigError(f"must be >= 0, got {budget.limit}", path=f"{path}.limit")
    if budget.tz is not None:
        check_zone(budget.tz, f"{path}.tz")
    if budget.cron is not None:
        check_cron(budget.cron, f"{path}.cron")


def _check_rate_limit(limit: str, path: str) -> None:
    from limits import parse  # the parser is small; imported here to keep config import light

    try:
        parse(limit)
    except ValueError:
        raise ConfigError(
            f"invalid rate limit {limit!r}; write it like '10/second' or '1000/day'", path=path
        ) from None


_REGION_KEYS: Final = frozenset({("Config.routing", 1), ("ProviderConfig.regions", 0)})
"""Maps whose keys (at that depth) are region names, which keep their case from a variable."""


def _unwrap(type_: Any) -> Any:
    """``X`` for ``X | None``."""
    args = [a for a in typing.get_args(type_) if a is not type(None)]
    if typing.get_origin(type_) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return type_


def _env_path(parts: list[str], data: Mapping[str, Any]) -> list[str] | None:
    """The config key path a variable's ``__``-separated parts name, or ``None`` if none.

    Attribute names are matched case-insensitively; a map key the file already has, in any
    case, is that key; a new region key (``routing.DATASET.US``) keeps the variable's case, and
    any other new map key is lower-cased.
    """
    path: list[str] = []
    type_: Any = Config
    owner, depth = "", 0
    node: Any = data
    for part in parts:
        existing = node if isinstance(node, Mapping) else {}
        if attrs.has(type_):
            hints = typing.get_type_hints(type_)
            key = part.lower()
            if key not in hints:  # structuring reports an unknown key by its path
                return None if not path and len(parts) == 1 else [*path, key]
            owner, depth = f"{type_.__name__}.{key}", 0
            type_ = _unwrap(hints[key])
        elif typing.get_origin(type_) is dict:
            same = [k for k in existing if isinstance(k, str) and k.lower() == part.lower()]
            key = same[0] if same else part if (owner, depth) in _REGION_KEYS else part.lower()
            type_ = _unwrap(typing.get_args(type_)[1])
            depth += 1
        else:
            key = part.lower()
        path.append(key)
        node = existing.get(key)
    return path


def _env_overrides(environ: Mapping[str, str], data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = _env_path(name[len(ENV_PREFIX) :].split("__"), data)
        if path is None:  # not a config value (POLYSOURCE_STRICT_PLUGINS, POLYSOURCE_CONFIG...)
            continue
        import tomllib  # only when an override is set: a plain start-up reads no TOML

        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name} conflicts with another one")
        node[path[-1]] = value
    return out


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load ``polysource.toml`` (if given), apply environment and explicit overrides.

    Args:
        path: The TOML file; ``None`` starts from the defaults.
        environ: Environment to read ``POLYSOURCE_*`` overrides from (default ``os.environ``).
        overrides: A mapping merged last, for configuration built in code.

    Raises:
        ConfigError: The file is missing or not TOML, or a value is invalid.
    """
    data: dict[str, Any] = {}
    if path is not None:
        import tomllib

        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {os.fspath(path)!r} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {os.fspath(path)!r} is not valid TOML: {exc}") from None
    data = _deep_merge(data, _env_overrides(os.environ if environ is None else environ, data))
    if overrides:
        data = _deep_merge(data, overrides)
    return structure_config(data)
