"""Cache tier URLs for Redis, parsed into a
[`RedisSettings`][polysource_redis.settings.RedisSettings] value.

A tier URL names the server(s), the database, the credentials and the options:

    redis://[[user]:password@]host[:port][/db][?option=value&...]
    rediss://...                                   TLS, certificate and host name verified
    redis+cluster://host[:port][,host[:port]...][?option=value&...]
    rediss+cluster://...                           Redis Cluster over TLS

Parsing is pure: it reads the environment only for ``password_env`` and opens no connection.
Errors are [`ConfigError`][polysource.errors.ConfigError] and show the URL with its password masked.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Final, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from attrs import field, frozen

from polysource.config import Secret
from polysource.errors import ConfigError
from polysource.redaction import mask_url

T = TypeVar("T")

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_PREFIX",
    "RedisSettings",
    "SCHEMES",
    "parse_url",
]

SCHEMES: Final = ("redis", "rediss", "redis+cluster", "rediss+cluster")
"""The URL schemes the backend claims."""

DEFAULT_PORT: Final = 6379
DEFAULT_PREFIX: Final = "ps"
"""Prefix of every key the backend writes, so a shared Redis can tell polysource's keys apart."""

_CONFIG_PATH: Final = "cache.tiers"
_MAX_RETRIES: Final = 1


@frozen
class RedisSettings:
    """Where and how to reach Redis, as read from a tier URL.

    Attributes:
        nodes: ``(host, port)`` pairs: the server, or the cluster's start-up nodes.
        cluster: Whether the servers form a Redis Cluster.
        tls: Whether to connect with TLS (the certificate and host name are always verified).
        db: Database number (always 0 on a cluster).
        username: ACL user name, if any.
        password: The password, masked in every repr; from the URL or ``password_env``.
        prefix: Prefix of every key (``{prefix}:{key}``).
        name: The tier's name in events and stats.
        socket_timeout: Seconds a command may wait for its reply.
        connect_timeout: Seconds a connection may take to open.
        max_connections: Connections per server at most (``None``: redis-py's default).
        retries: Immediate retries of a failed command, 0 or 1. On one server (default 1) only
            a broken connection is retried, never a timeout. On a cluster (default 0) redis-py
            retries timeouts too, after re-reading the layout, so one retry can cost up to three
            timeouts; with 0 the next command re-reads the layout instead.
        ssl_ca_certs: File of CA certificates to verify the server with (TLS only).
        scan_count: Keys one ``SCAN`` step looks at (``delete_pattern``).
        max_scan_steps: ``SCAN`` steps per server at most in one ``delete_pattern``.
    """

    nodes: tuple[tuple[str, int], ...]
    cluster: bool = False
    tls: bool = False
    db: int = 0
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    prefix: str = DEFAULT_PREFIX
    name: str = "redis"
    socket_timeout: float = 0.25
    connect_timeout: float = 0.25
    max_connections: int | None = None
    retries: int = 1
    ssl_ca_certs: str | None = None
    scan_count: int = 500
    max_scan_steps: int = 1000

    @property
    def url(self) -> str:
        """The URL without credentials or options, for reprs and messages."""
        scheme = ("rediss" if self.tls else "redis") + ("+cluster" if self.cluster else "")
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.nodes)
        return f"{scheme}://{hosts}" + ("" if self.cluster else f"/{self.db}")


def parse_url(
    url: str, *, timeout: float = 0.25, environ: Mapping[str, str] | None = None
) -> RedisSettings:
    """Read a tier URL into settings.

    Args:
        url: ``redis://``, ``rediss://``, ``redis+cluster://`` or ``rediss+cluster://`` URL.
        timeout: Default for ``socket_timeout`` and ``connect_timeout`` (the tier timeout).
        environ: Where ``password_env`` is looked up (default ``os.environ``).

    Returns:
        The settings.

    Raises:
        ConfigError: The URL is malformed, has an unknown option or a bad value, or names an
            unset ``password_env``; the message shows the URL with its password masked.
    """
    shown = mask_url(url)
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise ConfigError(
            f"{shown!r} is not a Redis URL; schemes are {', '.join(SCHEMES)}", path=_CONFIG_PATH
        )
    scheme = scheme.lower()
    cluster = scheme.endswith("+cluster")
    userinfo, _, location = rest.rpartition("@")
    location, _, query = location.partition("?")
    hostlist, _, path = location.partition("/")
    options = _options(query, shown)
    nodes = _nodes(hostlist, shown, cluster=cluster)
    db = _db(path, shown, cluster=cluster)
    username, password = _credentials(userinfo, options.pop("password_env", None), shown, environ)
    settings = RedisSettings(
        nodes=nodes,
        cluster=cluster,
        tls=scheme.startswith("rediss"),
        db=db,
        username=username,
        password=password,
        prefix=_take(options, "prefix", _text, DEFAULT_PREFIX, shown),
        name=_take(options, "name", _text, "redis", shown),
        socket_timeout=_take(options, "socket_timeout", _seconds, timeout, shown),
        connect_timeout=_take(options, "connect_timeout", _seconds, timeout, shown),
        max_connections=_take(options, "max_connections", _positive, None, shown),
        retries=_take(options, "retries", _retries, 0 if cluster else 1, shown),
        ssl_ca_certs=_take(options, "ssl_ca_certs", _text, None, shown),
        scan_count=_take(options, "scan_count", _positive, 500, shown),
        max_scan_steps=_take(options, "max_scan_steps", _positive, 1000, shown),
    )
    if options:
        raise ConfigError(
            f"unknown option {next(iter(options))!r} in {shown!r}; options are "
            f"{', '.join(_OPTIONS)}",
            path=_CONFIG_PATH,
        )
    return settings


def _options(query: str, shown: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in options:
            raise ConfigError(f"option {key!r} is given twice in {shown!r}", path=_CONFIG_PATH)
        options[key] = value
    return options


def _nodes(hostlist: str, shown: str, *, cluster: bool) -> tuple[tuple[str, int], ...]:
    hosts = hostlist.split(",") if hostlist else []
    if not hosts or any(not h for h in hosts):
        raise ConfigError(f"{shown!r} names no host", path=_CONFIG_PATH)
    if len(hosts) > 1 and not cluster:
        raise ConfigError(
            f"{shown!r} names several hosts; use redis+cluster:// for a cluster",
            path=_CONFIG_PATH,
        )
    nodes = []
    for host in hosts:
        try:
            split = urlsplit(f"//{host}")
            port = split.port
        except ValueError:
            raise ConfigError(
                f"bad host or port {host!r} in {shown!r}", path=_CONFIG_PATH
            ) from None
        if not split.hostname:
            raise ConfigError(f"bad host {host!r} in {shown!r}", path=_CONFIG_PATH)
        nodes.append((split.hostname, port or DEFAULT_PORT))
    return tuple(nodes)


def _db(path: str, shown: str, *, cluster: bool) -> int:
    if not path:
        return 0
    if not path.isdigit():
        raise ConfigError(f"database {path!r} in {shown!r} is not a number", path=_CONFIG_PATH)
    db = int(path)
    if cluster and db:
        raise ConfigError(
            f"a cluster has only database 0, {shown!r} asks for {db}", path=_CONFIG_PATH
        )
    return db


def _credentials(
    userinfo: str, password_env: str | None, shown: str, environ: Mapping[str, str] | None
) -> tuple[str | None, Secret | None]:
    user, colon, password = userinfo.partition(":")
    username = unquote(user) or None
    if password_env is None:
        return username, Secret.of(unquote(password)) if colon and password else None
    if colon and password:
        raise ConfigError(
            f"{shown!r} has both a password and password_env; give one", path=_CONFIG_PATH
        )
    value = (os.environ if environ is None else environ).get(password_env)
    if not password_env or value is None:
        raise ConfigError(
            f"environment variable {password_env!r} named by password_env in {shown!r} is not set",
            path=_CONFIG_PATH,
        )
    return username, Secret(env=password_env, value=value)


def _take(
    options: dict[str, str], key: str, convert: Callable[[str], T], default: T, shown: str
) -> T:
    """Remove option ``key`` and convert it, or return ``default`` if it is absent."""
    raw = options.pop(key, None)
    if raw is None:
        return default
    try:
        return convert(raw)
    except ValueError as exc:
        raise ConfigError(f"option {key}={raw!r} in {shown!r}: {exc}", path=_CONFIG_PATH) from None


def _seconds(value: str) -> float:
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("must be a positive number of seconds")
    return seconds


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be a positive whole number")
    return number


def _retries(value: str) -> int:
    number = int(value)
    if not 0 <= number <= _MAX_RETRIES:
        raise ValueError(f"must be between 0 and {_MAX_RETRIES}")
    return number


def _text(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


_OPTIONS: Final = (
    "connect_timeout",
    "max_connections",
    "max_scan_steps",
    "name",
    "password_env",
    "prefix",
    "retries",
    "scan_count",
    "socket_timeout",
    "ssl_ca_certs",
)
