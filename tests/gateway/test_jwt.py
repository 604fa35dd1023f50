"""Tenancy from bearer JWTs verified with a configured key (PyJWT), beside API keys."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from polysource import ConfigError, Secret, load_config
from polysource.connections import Connection
from polysource.datasets import Accounts
from polysource.testing import FakeProvider

ISSUER = "https://issuer.example"
AUDIENCE = "polysource-gateway"


def _rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(private) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def signer():
    """An RSA key pair generated for this module's tests."""
    return _rsa()


def _token(private, **claims):
    body = {
        "sub": "svc-1",
        "tenant": "tenant-a",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "exp": int(time.time()) + 300,
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, private, "RS256")


@pytest.fixture
async def jwt_gateway(make_orchestrator, serving, keys, clock, signer):
    """A gateway over a fake serving a private dataset, accepting RS256 JWTs and API keys."""
    fake = FakeProvider(
        "alpha", datasets={"accounts"}, clock=clock, default=lambda r: Accounts(accounts=())
    )
    section = keys.section(
        jwt={
            "key": Secret.of(_public_pem(signer)),
            "algorithms": ["RS256"],
            "audience": AUDIENCE,
            "issuer": ISSUER,
        }
    )
    config = load_config(environ={}, overrides={"telemetry": {"log": False}, "gateway": section})
    orch = await make_orchestrator(fake, config=config)
    await orch.connections.save(Connection("tenant-a", "alpha", link_id="link-a"))
    async with serving(orch) as client:
        yield client


async def test_a_valid_token_acts_as_its_tenant(jwt_gateway, keys, signer):
    """A token signed with the configured key reads private data as the tenant of its claim."""
    response = await jwt_gateway.get("/v1/accounts/ACC1", headers=keys.auth(_token(signer)))
    assert response.status == 200, await response.text()
    other = await jwt_gateway.get(
        "/v1/accounts/ACC1", headers=keys.auth(_token(signer, tenant="tenant-b"))
    )
    assert other.status == 502  # tenant-b has no connection: the token's tenant is the one used
    assert (await jwt_gateway.get("/v1/accounts/ACC1")).status == 401
    # API keys keep working beside tokens.
    assert (await jwt_gateway.get("/v1/accounts/ACC1", headers=keys.auth(keys.alice))).status == 200


def _hs256_with_public_key(signer) -> str:
    """An HS256 token whose HMAC secret is the public key (the algorithm-confusion attack)."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(
        json.dumps({"tenant": "tenant-a", "aud": AUDIENCE, "iss": ISSUER, "exp": 2**40}).encode()
    )
    signing = f"{header}.{payload}".encode()
    mac = hmac.new(_public_pem(signer).encode(), signing, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda signer: _token(_rsa()), id="another-key"),
        pytest.param(lambda signer: _token(signer, exp=int(time.time()) - 60), id="expired"),
        pytest.param(lambda signer: _token(signer, exp=None), id="no-exp"),
        pytest.param(lambda signer: _token(signer, tenant=None), id="no-tenant-claim"),
        pytest.param(lambda signer: _token(signer, aud="someone-else"), id="wrong-audience"),
        pytest.param(lambda signer: _token(signer, iss="https://evil.example"), id="wrong-issuer"),
        pytest.param(
            lambda signer: jwt.encode(
                {"tenant": "tenant-a", "aud": AUDIENCE, "iss": ISSUER, "exp": 2**40},
                None,
                algorithm="none",
            ),
            id="alg-none",
        ),
        pytest.param(_hs256_with_public_key, id="hs256-with-the-public-key"),
        pytest.param(lambda signer: "not.a.token", id="malformed"),
    ],
)
async def test_a_bad_token_is_401(jwt_gateway, keys, signer, forge):
    """Another key, expired, no exp, no tenant claim, wrong aud/iss, alg=none: 401."""
    response = await jwt_gateway.get("/v1/accounts/ACC1", headers=keys.auth(forge(signer)))
    assert response.status == 401, await response.text()
    assert response.content_type == "application/problem+json"


def test_alg_none_cannot_be_configured():
    """[gateway.jwt] algorithms naming none is a config error."""
    with pytest.raises(ConfigError, match="none"):
        load_config(
            environ={},
            overrides={"gateway": {"jwt": {"key": Secret.of("k" * 32), "algorithms": ["none"]}}},
        )
