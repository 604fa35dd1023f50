"""Who is asking: API keys mapped to tenants, and the admin bearer token.

Keys and the token come from the configuration as [`Secret`][polysource.config.Secret] values and
are revealed once, when the app is built. A presented credential is hashed and compared with
every configured key's hash in constant time (``hmac.compare_digest``, no early exit), so the
answer's timing says nothing about how much of a key was right. A tenant comes only from a
verified key, never from a query parameter or a body.

Beside the keys, ``[gateway.jwt]`` accepts bearer JWTs verified with PyJWT: the signature
with the configured key and only the configured algorithms (never ``none``), ``exp`` required,
``nbf``, ``aud`` and ``iss`` checked, and the tenant taken from the configured claim. A token
that fails any check is a 401 that names no detail of the token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web
from attrs import frozen

from polysource.config import GatewayConfig, GatewayJwtConfig, GatewayKeyConfig, Secret
from polysource.errors import ConfigError
from polysource.gateway.problems import Problem

__all__ = ["ANONYMOUS", "Authenticator", "Client"]

MIN_ADMIN_TOKEN: Final = 16
"""Shortest admin token accepted: a short one could be guessed."""


@frozen
class Client:
    """The verified caller of one request.

    Args:
        name: The API key's name (``None`` for an anonymous caller).
        tenant: The tenant the key acts as, if any.
        tier: The key's default tier, if any.
        key: Whether the client is a configured API key (quotas and budgets apply to keys).
    """

    name: str | None
    tenant: str | None = None
    tier: str | None = None
    key: bool = False


ANONYMOUS: Final = Client(None)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Problem(401, "bad-credentials", "send credentials as 'Authorization: Bearer <key>'")
    return credential.strip()


class Authenticator:
    """Resolves a request's bearer credential to a [`Client`][polysource.gateway.auth.Client] or to
    the admin role.

    Args:
        config: The ``[gateway]`` section.

    Raises:
        ConfigError: A key or the admin token cannot be revealed, the admin token is shorter
            than 16 characters, or two keys are equal.
    """

    def __init__(self, config: GatewayConfig) -> None:
        self.anonymous = config.anonymous
        self._keys: tuple[tuple[bytes, Client], ...] = tuple(
            (_digest(_reveal(k.key, f"gateway.api_keys.{name}.key")), _client(name, k))
            for name, k in sorted(config.api_keys.items())
        )
        if len({digest for digest, _ in self._keys}) != len(self._keys):
            raise ConfigError("two API keys have the same value", path="gateway.api_keys")
        self._admin: bytes | None = None
        if config.admin_token is not None:
            token = _reveal(config.admin_token, "gateway.admin_token")
            if len(token) < MIN_ADMIN_TOKEN:
                raise ConfigError(
                    f"must be at least {MIN_ADMIN_TOKEN} characters", path="gateway.admin_token"
                )
            self._admin = _digest(token)
        self._jwt = JwtVerifier(config.jwt) if config.jwt is not None else None

    @property
    def admin_enabled(self) -> bool:
        """Whether an admin token is configured (the admin routes answer 404 otherwise)."""
        return self._admin is not None

    def client(self, request: web.Request) -> Client:
        """The request's client: a verified key's, or anonymous when it sent none.

        Raises:
            Problem: 401 for a malformed or unknown credential, or for no credential when
                anonymous reads are off.
        """
        credential = _bearer(request)
        if credential is None:
            if not self.anonymous:
                raise Problem(401, "unauthenticated", "an API key is required")
            return ANONYMOUS
        digest = _digest(credential)
        found: Client | None = None
        for known, client in self._keys:
            if hmac.compare_digest(known, digest):
                found = client
        if found is None and self._jwt is not None and credential.count(".") == 2:
            return self._jwt.client(credential)
        if found is None:
            raise Problem(401, "bad-credentials", "the API key is not valid")
        return found

    def require_admin(self, request: web.Request) -> None:
        """Let the request through only with the admin token.

        Raises:
            Problem: 404 when no admin token is configured; 401 without the exact token.
        """
        if self._admin is None:
            raise Problem(
                404,
                "admin-disabled",
                "the admin routes are off: set [gateway] admin_token to turn them on",
            )
        credential = _bearer(request)
        if credential is None or not hmac.compare_digest(self._admin, _digest(credential)):
            raise Problem(401, "bad-credentials", "the admin token is missing or wrong")

    def is_admin_token(self, presented: str) -> bool:
        """Whether ``presented`` is the admin token (constant time; false when none is set)."""
        if self._admin is None:
            return False
        return hmac.compare_digest(self._admin, _digest(presented))

    def dashboard_session(self) -> str | None:
        """The value of the dashboard's session cookie, derived from the admin token.

        The cookie never carries the token itself: it is a keyed digest of a fixed label, the
        same in every worker process, and it changes when the token does.
        """
        if self._admin is None:
            return None
        return hmac.new(self._admin, b"polysource dashboard session", hashlib.sha256).hexdigest()

    def is_dashboard_session(self, presented: str | None) -> bool:
        """Whether ``presented`` is the dashboard session cookie (constant time)."""
        expected = self.dashboard_session()
        if expected is None or presented is None:
            return False
        return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "replace"))


def _client(name: str, key: GatewayKeyConfig) -> Client:
    return Client(name, key.tenant, key.tier, key=True)


class JwtVerifier:
    """Verifies bearer JWTs with PyJWT and maps a valid one to a
    [`Client`][polysource.gateway.auth.Client].

    Args:
        config: The ``[gateway.jwt]`` section.

    Raises:
        ConfigError: PyJWT is not installed, or the key cannot be revealed or loaded for the
            configured algorithms.
    """

    def __init__(self, config: GatewayJwtConfig) -> None:
        try:
            import jwt
        except ImportError:
            raise ConfigError(
                "JWT verification needs PyJWT: install polysource[serve]", path="gateway.jwt"
            ) from None
        self._jwt = jwt
        self._config = config
        secret = _reveal(config.key, "gateway.jwt.key")
        self._keys: dict[str, Any] = {}
        for alg in config.algorithms:
            try:
                algorithm = jwt.get_algorithm_by_name(alg)
                self._keys[alg] = algorithm.prepare_key(secret)
            except (NotImplementedError, ValueError, TypeError, jwt.PyJWTError) as exc:
                raise ConfigError(
                    f"the key cannot verify {alg} tokens ({type(exc).__name__})",
                    path="gateway.jwt.key",
                ) from None

    def client(self, token: str) -> Client:
        """The client a valid ``token`` stands for.

        Raises:
            Problem: 401 when the token is malformed, signed with another key or algorithm,
                expired, not yet valid, for another audience or issuer, or without the
                tenant claim.
        """
        jwt = self._jwt
        config = self._config
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            key = self._keys.get(alg) if isinstance(alg, str) else None
            if key is None:
                raise jwt.InvalidAlgorithmError("algorithm not allowed")
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway,
                options={"require": ["exp"]},
            )
        except jwt.PyJWTError as exc:
            raise Problem(
                401, "bad-credentials", f"the token is not valid ({type(exc).__name__})"
            ) from None
        tenant = claims.get(config.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise Problem(401, "bad-credentials", f"the token has no {config.tenant_claim!r} claim")
        subject = claims.get("sub")
        return Client(f"jwt:{subject if isinstance(subject, str) else tenant}", tenant)


def _reveal(secret: Secret, path: str) -> str:
    try:
        value = secret.reveal()
    except ConfigError as exc:
        raise ConfigError(str(exc), path=path) from None
    if not value:
        raise ConfigError("is empty", path=path)
    return value


def secret_values(secrets: Mapping[str, Secret]) -> list[str]:
    """The values of the secrets that can be revealed (for the
    [`Redactor`][polysource.gateway.auth.Redactor])."""
    out = []
    for secret in secrets.values():
        if secret.is_available:
            out.append(secret.reveal())
    return out
