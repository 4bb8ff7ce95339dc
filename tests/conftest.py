"""Shared fixtures: a real redis-server per test session, started on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ocpi_gateway.redis_clients import RedisMode, RedisTarget
from tests.redis_servers import RedisClusterProcesses, RedisProcess, SentinelProcesses


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a private redis-server for this test session (one per xdist worker)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; "
                    ".ci/run installs it (apt-get install -y redis-server)")
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
async def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied before each test."""
    import redis.asyncio as redis

    client = redis.from_url(redis_server)
    await client.flushall()
    await client.aclose()
    return redis_server


@pytest.fixture(scope="session")
def redis_cluster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of one node of a private 3-master Redis Cluster (one per xdist worker)."""
    cluster = RedisClusterProcesses(tmp_path_factory.mktemp("redis-cluster"))
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster(redis_cluster_server: str) -> RedisTarget:
    """The session's Redis Cluster, every master emptied before each test."""
    from redis.cluster import RedisCluster

    client = RedisCluster.from_url(redis_cluster_server)
    try:
        client.flushall(target_nodes=RedisCluster.PRIMARIES)
    finally:
        client.close()
    return RedisTarget(url=redis_cluster_server, mode=RedisMode.CLUSTER)


@pytest.fixture
def redis_sentinel(tmp_path: Path) -> Iterator[SentinelProcesses]:
    """A primary, a replica and three Sentinels of this test alone (it may kill the primary)."""
    setup = SentinelProcesses(tmp_path / "sentinel")
    setup.start()
    try:
        yield setup
    finally:
        setup.stop()


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test alone, which the test may kill and restart (empty)."""
    server = RedisProcess(tmp_path / "redis-restartable")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files), made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make a test certificate (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return cert, key


@pytest.fixture
def openapi() -> ModuleType:
    """``tests.openapi``: validate_response / validate_request / validate_object against the
    official OCPI OpenAPI files (the peers in tests/peers/ already validate all they see)."""
    from tests import openapi as module

    return module
