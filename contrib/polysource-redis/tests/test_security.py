"""Passwords authenticate but never show; TLS verifies the server's certificate."""

from __future__ import annotations

import subprocess
import traceback
from pathlib import Path

import pytest
import redis.exceptions

PASSWORD = "pw-7c1e9b5a-never-shown"
TIMEOUT = 0.25


def _texts(error: BaseException) -> list[str]:
    """Everything an error could put in a log: str, repr and the formatted chain."""
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


async def test_password_from_the_url_authenticates(redis_servers, make_backend):
    """A password given in the URL (percent-encoded) opens the connection."""
    server = redis_servers("--requirepass", PASSWORD)
    backend = make_backend(server.url.replace("://", f"://:{PASSWORD}@"), timeout=TIMEOUT)
    await backend.set("k", b"v", 60)
    assert await backend.get_many(["k"]) == [b"v"]
    assert PASSWORD not in repr(backend)
    assert PASSWORD not in repr(backend.settings)


async def test_password_from_an_environment_variable_authenticates(
    redis_servers, make_backend, monkeypatch
):
    """``password_env`` reads the password from the named variable."""
    monkeypatch.setenv("POLYSOURCE_TEST_REDIS_PASSWORD", PASSWORD)
    server = redis_servers("--requirepass", PASSWORD)
    backend = make_backend(
        f"{server.url}?password_env=POLYSOURCE_TEST_REDIS_PASSWORD", timeout=TIMEOUT
    )
    await backend.set("k", b"v", 60)
    assert await backend.get_many(["k"]) == [b"v"]
    assert PASSWORD not in repr(backend.settings)


async def test_wrong_password_fails_without_showing_it(redis_servers, make_backend):
    """A rejected password raises AuthenticationError whose text holds no password."""
    server = redis_servers("--requirepass", "the-right-one")
    backend = make_backend(server.url.replace("://", f"://:{PASSWORD}@"), timeout=TIMEOUT)

    with pytest.raises(redis.exceptions.AuthenticationError) as caught:
        await backend.get_many(["k"])

    for text in _texts(caught.value):
        assert PASSWORD not in text
    assert PASSWORD not in repr(backend)


async def test_missing_password_fails_without_showing_the_configured_one(
    redis_servers, make_backend
):
    """Connecting without a password to a server that needs one is an auth error, not a hang."""
    server = redis_servers("--requirepass", PASSWORD)
    backend = make_backend(server.url, timeout=TIMEOUT)
    with pytest.raises(redis.exceptions.AuthenticationError) as caught:
        await backend.get_many(["k"])
    for text in _texts(caught.value):
        assert PASSWORD not in text


def _openssl(arguments: str, folder: Path) -> None:
    command = ["openssl", *arguments.split()]
    subprocess.run(command, cwd=folder, check=True, capture_output=True, timeout=60)


@pytest.fixture
def certificates(tmp_path: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, signed by it."""
    folder = tmp_path / "tls"
    folder.mkdir()
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca.key -out ca.pem",
        folder,
    )
    _openssl(
        "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr",
        folder,
    )
    _openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-extfile san.ext -out server.pem",
        folder,
    )
    return folder


def _tls_server(redis_servers, certificates: Path):
    files = {"cert": "server.pem", "key": "server.key", "ca-cert": "ca.pem"}
    paths = [
        arg
        for kind, name in files.items()
        for arg in (f"--tls-{kind}-file", str(certificates / name))
    ]
    return redis_servers(
        "--bind", "127.0.0.1", "127.0.0.2", "--tls-auth-clients", "no", *paths, tls=True
    )


async def test_tls_with_the_servers_ca_works(redis_servers, make_backend, certificates):
    """``rediss://`` with ``ssl_ca_certs`` naming the issuing CA reads and writes."""
    server = _tls_server(redis_servers, certificates)
    backend = make_backend(f"{server.url}?ssl_ca_certs={certificates / 'ca.pem'}", timeout=1.0)
    await backend.set("k", b"v", 60)
    assert await backend.get_many(["k"]) == [b"v"]


async def test_tls_refuses_a_certificate_it_cannot_verify(
    redis_servers, make_backend, certificates
):
    """Without the issuing CA the self-signed chain is refused: verification is on."""
    server = _tls_server(redis_servers, certificates)
    backend = make_backend(server.url, timeout=1.0)
    with pytest.raises(redis.exceptions.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await backend.get_many(["k"])


async def test_tls_checks_the_host_name(redis_servers, make_backend, certificates):
    """A certificate for 127.0.0.1 and localhost does not pass for another name of the host."""
    server = _tls_server(redis_servers, certificates)
    url = f"rediss://127.0.0.2:{server.port}/0?ssl_ca_certs={certificates / 'ca.pem'}"
    backend = make_backend(url, timeout=1.0)
    with pytest.raises(redis.exceptions.ConnectionError, match="IP address mismatch"):
        await backend.get_many(["k"])
