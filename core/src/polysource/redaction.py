"""Masking of credentials in text meant for people: error messages, reprs, log lines.

A client sends a credential in more than one encoding: as given (a header, a JSON body),
base64 inside ``Authorization: Basic``, percent-encoded in a query string or a form, inside a
URL's user info. A provider that echoes a request back in an error body may show any of them.
[`redact()`][polysource.redaction.redact] masks every form of the secrets it is given, and also
what looks like a
credential whatever its value: an ``Authorization`` header's value, a Basic or Bearer
credential, a URL's password, a query or JSON field named like a secret (``token=``,
``apikey=``, ``"password": ...``). [`mask_url()`][polysource.redaction.mask_url] shows a URL with
its password and secret
query values masked, for reprs of configuration.

Every error message and repr that may hold text from the wire or a configured URL goes
through one of the two.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, quote_plus

import orjson

__all__ = ["MASK", "encodings", "mask_url", "redact"]

MASK: Final = "***"
"""What a masked value is replaced with."""

# Names of fields whose values are masked, not a password.
_SECRET_NAMES: Final = (
    r"(?:access_?token|api_?key|apikey|auth|client_?secret|crumb|key|passw(?:or)?d|pwd"  # noqa: S105
    r"|public_?token|secret(?:_?(?:id|key|password))?|sig(?:nature)?|token)"
)
_AUTHORIZATION: Final = re.compile(
    r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:[a-z][\w-]*\s+)?[^\s,;&\"']+"
)
_SCHEME_CREDENTIAL: Final = re.compile(r"(?i)\b(basic|bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}")
_USERINFO: Final = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#@:]*)(:[^\s/?#@]*)?@")
_QUERY_FIELD: Final = re.compile(rf"(?i)(^|[?&;\s])({_SECRET_NAMES})=([^&#\s\"']*)")
_JSON_FIELD: Final = re.compile(rf"(?i)(\"{_SECRET_NAMES}\"\s*:\s*\")((?:[^\"\\]|\\.)*)\"")
_BASE64_RUN: Final = re.compile(r"[A-Za-z0-9+/_-]{4,}={0,2}")


def encodings(secret: str) -> tuple[str, ...]:
    """The forms ``secret`` takes in text a client sends, longest first.

    They are the value itself, its JSON string escaping, its percent-encodings (path, query
    and form style), and the base64 of it as it sits anywhere inside a longer encoded value
    (``base64("id:" + secret)`` in a Basic header): for each of the three byte alignments, the
    run of base64 characters that depends on the secret's bytes alone.
    """
    if not secret:
        return ()
    forms = _plain_forms(secret) | _base64_cores(secret)
    return tuple(sorted(forms, key=len, reverse=True))


def _plain_forms(secret: str) -> set[str]:
    forms = {
        secret,
        orjson.dumps(secret).decode()[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }
    return {f for f in forms if f}


def _base64_cores(secret: str) -> set[str]:
    raw = secret.encode()
    cores = set()
    for offset in range(3):
        for alphabet in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = alphabet(b"\0" * offset + raw).decode("ascii")
            first = 1 if offset else 0  # a group shared with the bytes before the secret
            last = (offset + len(raw)) // 3  # groups made of the secret's bytes only
            core = encoded[4 * first : 4 * last]
            if len(core) >= 4:
                cores.add(core)
    return cores


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every encoding of each of ``secrets``, and anything shaped like a credential,
    replaced by [`MASK`][polysource.redaction.MASK].

    Args:
        text: A message, a repr or a body about to be shown.
        secrets: Values that must not appear in any encoding (empty strings are ignored).
    """
    secrets = [s for s in secrets if s]
    cores = {c for s in secrets for c in _base64_cores(s)}
    if cores:  # before any other replacement, so an encoded value is still one run
        text = _BASE64_RUN.sub(
            lambda m: MASK if any(c in m.group() for c in cores) else m.group(), text
        )
    for form in sorted({f for s in secrets for f in _plain_forms(s)}, key=len, reverse=True):
        text = text.replace(form, MASK)
    text = _AUTHORIZATION.sub(rf"\g<1>{MASK}", text)
    text = _SCHEME_CREDENTIAL.sub(rf"\g<1>\g<2>{MASK}", text)
    text = _USERINFO.sub(_mask_userinfo, text)
    text = _QUERY_FIELD.sub(rf"\g<1>\g<2>={MASK}", text)
    return _JSON_FIELD.sub(rf'\g<1>{MASK}"', text)


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, user, password = match.group(1), match.group(2), match.group(3)
    if password is None:  # a lone user part often is the token itself (https://TOKEN@host)
        return f"{scheme}{MASK}@" if user else match.group()
    return f"{scheme}{user}:{MASK}@"


def mask_url(url: str) -> str:
    """``url`` as it may be shown: the password of its user info and secret query values masked.

    ``redis://user:s3cret@host:6379/0`` shows as ``redis://user:***@host:6379/0``,
    ``https://TOKEN@host`` as ``https://***@host``, ``https://host/x?apikey=k`` as
    ``https://host/x?apikey=***``; the rest (scheme, host, port, path) is kept. The user info
    is taken to end at the last ``@`` of the URL, as the Redis tier reads it, so a password
    holding an unescaped ``@``, ``/``, ``?`` or ``#`` is masked whole (``redis://u:p?w@host``
    shows as ``redis://u:***@host``); a URL with an ``@`` in its path or query then shows less
    than it could, never more.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, _ = rest.rpartition("@")
    if sep and at and userinfo:
        user, colon, _ = userinfo.partition(":")
        shown = f"{user}:{MASK}" if colon else MASK
        url = f"{scheme}{sep}{shown}@{rest[len(userinfo) + 1 :]}"
    return redact(url)
