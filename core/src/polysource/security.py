"""The deployment secret: tenants' keyed digests and pseudonyms, and fleet message signatures.

Every process of a deployment shares one secret (``[security] secret``). From it a
[`Keyring`][polysource.security.Keyring] derives, with HMAC-SHA256, three independent keys:

- a tenant's **digest** (the full 256-bit HMAC, hex): stored inside every private record of a
  shared cache tier and every fleet answer, and compared on read, so a record of another
  tenant is a miss even if two tenants' short pseudonyms collide;
- a tenant's **pseudonym** (``h:`` and 12 hex digits): the tenant in shared-tier keys, logs and
  events (readable, short, and unguessable without the secret);
- the **signature** of each fleet message: a process drops a message it cannot verify.

Without a secret a keyring uses a random key of its own: pseudonyms still hide tenants in
logs, but they differ from process to process, so nothing shared (a shared tier holding
private data, a fleet) may rely on them; the orchestrator refuses that configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final, final

from polysource.config import Secret
from polysource.errors import ConfigError

__all__ = ["MIN_SECRET_LENGTH", "SIGNATURE_SIZE", "Keyring"]

MIN_SECRET_LENGTH: Final = 32
"""Characters a deployment secret has at least (32 hex digits are 128 bits)."""

SIGNATURE_SIZE: Final = 32
"""Bytes of a fleet message's signature (HMAC-SHA256), which starts the message."""

_CACHED: Final = 4096
"""Tenants whose digest and pseudonym are kept (the cache starts over when full)."""


@final
class Keyring:
    """Keys derived from the deployment secret (see the module docstring).

    Args:
        secret: The deployment secret's value; ``None`` for a random key of this process's
            own (memory-only use).
    """

    __slots__ = ("_digest_key", "_digests", "_pseudonym_key", "_pseudonyms", "_sign_key", "keyed")

    def __init__(self, secret: str | None = None) -> None:
        self.keyed = secret is not None
        """Whether the keys come from a deployment secret (shared by every process)."""
        root = secret.encode() if secret is not None else secrets.token_bytes(32)
        self._digest_key = _derive(root, b"polysource tenant digest")
        self._pseudonym_key = _derive(root, b"polysource tenant pseudonym")
        self._sign_key = _derive(root, b"polysource fleet message")
        self._digests: dict[str, str] = {}
        self._pseudonyms: dict[str, str] = {}

    @classmethod
    def from_secret(cls, secret: Secret | None, path: str = "security.secret") -> Keyring:
        """The keyring of a configured secret (``None``: a random key of this process's own).

        Raises:
            ConfigError: The secret cannot be read, or is shorter than
                [`MIN_SECRET_LENGTH`][polysource.security.MIN_SECRET_LENGTH] characters (its value
                is never quoted).
        """
        if secret is None:
            return cls()
        try:
            value = secret.reveal()
        except ConfigError as exc:
            raise ConfigError(exc.args[0], path=path) from None
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"the deployment secret has {len(value)} characters; it needs at least "
                f"{MIN_SECRET_LENGTH} random ones (for example `openssl rand -hex 32`)",
                path=path,
            )
        return cls(value)

    def digest(self, tenant: str) -> str:
        """The tenant's full keyed digest (64 hex digits): what shared records carry."""
        found = self._digests.get(tenant)
        if found is None:
            if len(self._digests) >= _CACHED:
                self._digests.clear()
            found = self._digests[tenant] = hmac.digest(
                self._digest_key, tenant.encode(), "sha256"
            ).hex()
        return found

    def pseudonym(self, tenant: str) -> str:
        """The tenant's short keyed pseudonym (``h:`` and 12 hex digits), for keys, logs and
        events."""
        found = self._pseudonyms.get(tenant)
        if found is None:
            if len(self._pseudonyms) >= _CACHED:
                self._pseudonyms.clear()
            mac = hmac.digest(self._pseudonym_key, tenant.encode(), "sha256")
            found = self._pseudonyms[tenant] = "h:" + mac[:6].hex()
        return found

    def sign(self, body: bytes) -> bytes:
        """``body`` with its signature in front (what goes over the fleet's channel)."""
        return hmac.digest(self._sign_key, body, "sha256") + body

    def verify(self, message: bytes) -> bytes | None:
        """The body of a signed message, or ``None`` if its signature is missing or wrong."""
        if len(message) < SIGNATURE_SIZE:
            return None
        signature, body = message[:SIGNATURE_SIZE], message[SIGNATURE_SIZE:]
        expected = hmac.digest(self._sign_key, body, "sha256")
        return body if hmac.compare_digest(signature, expected) else None

    def __repr__(self) -> str:
        return f"Keyring(keyed={self.keyed})"


def _derive(root: bytes, purpose: bytes) -> bytes:
    return hmac.digest(root, purpose, hashlib.sha256)
