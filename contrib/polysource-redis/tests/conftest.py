"""Fixtures of the Redis backend's tests: the shared Redis, servers of our own, a wire recorder.

Tests that need a Redis use the one at ``redis://localhost:6379`` (they fail, not skip, when
it is missing), each under a prefix of its own that is deleted afterwards. Tests of outages,
passwords, TLS and clusters start ``redis-server`` processes of their own on free ports and
always stop them.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.asyncio.connection import AbstractConnection

from polysource.cache.tiers import BackendContext
from polysource.clock import SystemClock
from polysource_redis import RedisBackend

SHARED_URL = "redis://localhost:6379/0"
TIMEOUT = 0.25
"""The tier timeout the tests build backends with (the engine's default)."""


@pytest.fixture(scope="session")
def shared_url() -> str:
    """The shared Redis's URL; the test fails if that Redis does not answer."""
    client = redis.Redis.from_url(SHARED_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"these tests need a Redis at {SHARED_URL}: {exc}")
    finally:
        client.close()
    return SHARED_URL


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own."""
    return f"pstest-{uuid.uuid4().hex}"


@pytest.fixture
async def raw(shared_url: str, prefix: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client of the shared Redis; at teardown it deletes the keys under ``prefix``."""
    client = redis.asyncio.Redis.from_url(shared_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.unlink(*keys)
    await client.aclose()


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[..., RedisBackend]]:
    """A factory ``make(url, timeout=TIMEOUT)`` of backends, closed at teardown."""
    made: list[RedisBackend] = []

    def make(url: str, timeout: float = TIMEOUT) -> RedisBackend:
        backend = RedisBackend.from_url(url, BackendContext(SystemClock(), timeout=timeout))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


@pytest.fixture
def backend(
    shared_url: str,
    prefix: str,
    raw: redis.asyncio.Redis,
    make_backend: Callable[..., RedisBackend],
) -> RedisBackend:
    """A backend on the shared Redis under this test's prefix (cleaned up by ``raw``)."""
    return make_backend(f"{shared_url}?prefix={prefix}")


# -- what goes over the wire -------------------------------------------------------------------


def parse_commands(packed: bytes) -> list[list[bytes]]:
    """The commands in one write: RESP arrays of bulk strings, as redis-py sends them."""
    commands: list[list[bytes]] = []
    at = 0
    while at < len(packed):
        assert packed[at : at + 1] == b"*", packed[at : at + 20]
        end = packed.index(b"\r\n", at)
        count = int(packed[at + 1 : end])
        at = end + 2
        args: list[bytes] = []
        for _ in range(count):
            end = packed.index(b"\r\n", at)
            length = int(packed[at + 1 : end])
            args.append(packed[end + 2 : end + 2 + length])
            at = end + 2 + length + 2
        commands.append(args)
    return commands


class Wire:
    """Every write redis-py makes to a socket, parsed into commands; a write is a round trip."""

    def __init__(self) -> None:
        self.writes: list[list[list[bytes]]] = []

    def clear(self) -> None:
        self.writes.clear()

    def commands(self, name: bytes | None = None) -> list[list[bytes]]:
        """Every command sent (named ``name`` if given), in order."""
        sent = [command for write in self.writes for command in write]
        return [c for c in sent if name is None or c[0].upper() == name]

    def writes_with(self, name: bytes) -> list[list[list[bytes]]]:
        """The writes that carry at least one ``name`` command."""
        return [w for w in self.writes if any(c[0].upper() == name for c in w)]


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    """Records each ``send_packed_command`` of every redis.asyncio connection."""
    recorder = Wire()
    send = AbstractConnection.send_packed_command

    async def recording_send(self, command, check_health=True):  # type: ignore[no-untyped-def]
        packed = (
            command
            if isinstance(command, bytes)
            else b"".join(
                part.encode() if isinstance(part, str) else bytes(part) for part in command
            )
        )
        recorder.writes.append(parse_commands(packed))
        return await send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", recording_send)
    return recorder


# -- redis-server processes of our own ---------------------------------------------------------


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free as well."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port found")


class RedisServer:
    """A ``redis-server`` process of a test's own: start, stop, pause, resume, restart."""

    def __init__(self, workdir: Path, args: tuple[str, ...], *, tls: bool = False) -> None:
        self.port = free_port()
        self.workdir = workdir / f"redis-{self.port}"
        self.workdir.mkdir()
        self.args = args
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (at most 10 s)."""
        port_args = (
            ("--port", "0", "--tls-port", str(self.port))
            if self.tls
            else ("--port", str(self.port))
        )
        fixed = ["--bind", "127.0.0.1", "--appendonly", "no", "--daemonize", "no"]
        command = ["redis-server", *port_args, *fixed, "--save", "", "--dir", str(self.workdir)]
        command += self.args
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {command}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.02)
            else:
                return
        raise RuntimeError(f"redis-server on port {self.port} did not start in 10 s")

    def stop(self) -> None:
        """Stop the server (continuing it first if paused) and wait until it is gone."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if self.paused:
            self.resume(process)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def pause(self) -> None:
        """Freeze the server with SIGSTOP: connections open, no reply ever comes."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self, process: subprocess.Popen[bytes] | None = None) -> None:
        """Continue a paused server with SIGCONT."""
        process = process or self.process
        assert process is not None
        os.kill(process.pid, signal.SIGCONT)
        self.paused = False

    def restart(self) -> None:
        """Stop the server and start a new one on the same port."""
        self.stop()
        self.start()


class Servers:
    """Servers started for one test or one module, all stopped by :meth:`stop_all`."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail("these tests need redis-server on the PATH")
        self.workdir = workdir
        self.started: list[RedisServer] = []

    def __call__(self, *args: str, tls: bool = False) -> RedisServer:
        server = RedisServer(self.workdir, args, tls=tls)
        self.started.append(server)
        server.start()
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def redis_servers(tmp_path: Path) -> Iterator[Servers]:
    """A factory ``start(*args, tls=False)`` of running servers, all stopped at teardown."""
    servers = Servers(tmp_path)
    yield servers
    servers.stop_all()


@pytest.fixture(scope="module")
def module_redis_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """``redis_servers`` for servers shared by the tests of one module."""
    servers = Servers(tmp_path_factory.mktemp("redis"))
    yield servers
    servers.stop_all()


# -- a Redis Cluster ---------------------------------------------------------------------------

CLUSTER_ARGS = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "5000",
]
CREATE_ARGS = ["--cluster-replicas", "0", "--cluster-yes"]


@pytest.fixture(scope="module")
def cluster(module_redis_servers):
    """Three cluster-enabled servers joined into one cluster, shared by this module's tests."""
    if shutil.which("redis-cli") is None:
        pytest.fail("this test needs redis-cli on the PATH")
    nodes = [module_redis_servers(*CLUSTER_ARGS) for _ in range(3)]
    addresses = [f"127.0.0.1:{node.port}" for node in nodes]
    create = ["redis-cli", "--cluster", "create", *addresses, *CREATE_ARGS]
    subprocess.run(create, check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 20
    for node in nodes:
        probe = redis.Redis(port=node.port, socket_timeout=2)
        try:
            while probe.cluster("info")["cluster_state"] != "ok":
                assert time.monotonic() < deadline, "the cluster did not become ok in 20 s"
                time.sleep(0.05)
        finally:
            probe.close()
    return nodes
