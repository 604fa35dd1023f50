"""polysource.redaction: every encoding of a secret, and credential-shaped text, is masked."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

import orjson
import pytest

from polysource.redaction import MASK, encodings, mask_url, redact

CANARY = "can4ry-S3cr/t+x&y=z"


def _sent_forms(secret: str, user: str) -> list[str]:
    return [
        secret,
        base64.b64encode(f"{user}:{secret}".encode()).decode(),
        base64.b64encode(f"{secret}:{user}".encode()).decode(),
        quote(secret, safe=""),
        quote_plus(secret),
        orjson.dumps(secret).decode()[1:-1],
    ]


@pytest.mark.parametrize("user", ["", "i", "id", "key-id-4f1a9c"])
def test_every_encoding_of_a_secret_is_masked(user: str) -> None:
    """Raw, base64 Basic (at any alignment), percent-encoded and JSON-escaped forms are masked."""
    forms = _sent_forms(CANARY, user)
    text = " | ".join(forms)
    masked = redact(text, [CANARY])
    for form in forms:
        assert form not in masked, form
    assert masked.count(MASK) >= len(forms)


def test_credential_shapes_are_masked_without_knowing_the_value() -> None:
    """Authorization values, Basic/Bearer, URL passwords and secret fields are masked blind."""
    text = (
        "Authorization: Token abcdef123456 | Basic aWQ6cGFzc3dvcmQ= | Bearer eyJhbGciOi.x.y | "
        "redis://user:pw1@h:6379/0 | https://ghp_tok@h/x | /q?apikey=k1&token=t1&a=1 | "
        '{"password": "pw2", "access_token": "t2", "name": "ok"}'
    )
    masked = redact(text)
    for value in ("abcdef123456", "aWQ6cGFzc3dvcmQ=", "eyJhbGciOi", "pw1", "ghp_tok", "k1"):
        assert value not in masked, value
    assert "t1" not in masked and "pw2" not in masked and '"t2"' not in masked
    assert "redis://user:***@h:6379/0" in masked and "a=1" in masked and '"ok"' in masked


def test_mask_url_keeps_what_is_not_a_credential() -> None:
    """A URL keeps scheme, user, host, port and path; its password and secret query go."""
    assert mask_url("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert mask_url("rediss://:s3cret@host") == "rediss://:***@host"
    assert mask_url("https://TOKEN@host/x?apikey=k&a=1") == "https://***@host/x?apikey=***&a=1"
    assert mask_url("sqlite:///var/audit.db") == "sqlite:///var/audit.db"
    assert mask_url("memory://") == "memory://"


def test_mask_url_masks_a_password_with_url_delimiters_whole() -> None:
    """A password holding an unescaped ``@``, ``/``, ``?`` or ``#`` is masked up to the last
    ``@``, as the Redis tier reads it; a percent-encoded one likewise."""
    assert mask_url("redis://u:p@ss/w?rd@cache/0?prefix=x") == "redis://u:***@cache/0?prefix=x"
    assert mask_url("postgresql://app:pa/ss?w#rd@db/app") == "postgresql://app:***@db/app"
    assert mask_url("postgresql://app:pa%2Fss%3F@db/app") == "postgresql://app:***@db/app"


def test_plain_text_is_unchanged() -> None:
    """Text without secrets or credential shapes passes through as it is."""
    text = "GET https://api.test/v1/x answered HTTP 404: Token expired, try again"
    assert redact(text, ["unrelated-secret"]) == text


def test_encodings_list_the_forms_a_client_sends() -> None:
    """encodings() names the raw, percent-encoded and base64 forms; an empty secret has none."""
    forms = encodings("a b/c")
    assert {"a b/c", "a%20b%2Fc", "a+b%2Fc"} <= set(forms)
    assert any(form in base64.b64encode(b"user:a b/c").decode() for form in forms)
    assert encodings("") == ()
