"""Shared parts of the OCPP benchmarks: a gateway process, raw charger sockets, Redis."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocpi_gateway.domain.authorization import AcceptAllAuthorizer  # noqa: E402
from ocpi_gateway.domain.events import DomainEvent  # noqa: E402
from ocpi_gateway.listening import ACCEPT_BATCH, BACKLOG, StormSite  # noqa: E402
from ocpi_gateway.ocpp_adapter.auth import hash_password  # noqa: E402
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig  # noqa: E402
from ocpi_gateway.ocpp_adapter.server import OcppServer, OcppTimings  # noqa: E402
from ocpi_gateway.redis_clients import RedisTarget  # noqa: E402

PASSWORD = "bench-password"


def quiet_logs() -> None:
    import logging

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def charger_ids(count: int, version: str = "1.6") -> list[str]:
    tag = "A" if version == "1.6" else "B"
    return [f"CP-BENCH-{tag}{n:05d}" for n in range(count)]


def chargers_config(count: int) -> ChargersConfig:
    # One hash for all: the server verifies it once and remembers the success.
    stored = hash_password(PASSWORD, log2_n=10)
    chargers: list[dict[str, Any]] = [
        {"id": cp, "ocpp_version": "1.6", "password_hash": stored} for cp in charger_ids(count)
    ] + [
        {"id": cp, "ocpp_version": "2.0.1", "password_hash": stored}
        for cp in charger_ids(count, "2.0.1")
    ]
    return ChargersConfig.model_validate({"chargers": chargers})


class NullPublisher:
    def __init__(self) -> None:
        self.count = 0

    async def publish(self, event: DomainEvent) -> None:
        self.count += 1


def rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def make_server(count: int, *, redis_url: RedisTarget | str | None = None,
                instance_id: str = "bench",
                ping: float | None = 60.0) -> tuple[OcppServer, NullPublisher]:
    publisher = NullPublisher()
    server = OcppServer(chargers_config(count), publisher, AcceptAllAuthorizer(),
                        instance_id=instance_id, redis_url=redis_url,
                        timings=OcppTimings(ws_ping_interval=ping, presence_ttl=10.0,
                                            stream_block_ms=1000))
    return server, publisher


async def run_site(server: OcppServer, port: int,
                   extra_routes: list[web.RouteDef] | None = None,
                   backlog: int = BACKLOG, accept_batch: int = ACCEPT_BATCH) -> web.AppRunner:
    """The OCPP server on a site listening as ``ocpi-gateway serve`` does (listening.py)."""
    app = web.Application()
    server.attach(app)
    if extra_routes:
        app.add_routes(extra_routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await StormSite(runner, "127.0.0.1", port, backlog=backlog,
                    accept_batch=accept_batch).start()
    return runner


def auth_header(charge_point_id: str) -> dict[str, str]:
    token = base64.b64encode(f"{charge_point_id}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def open_charger(http: aiohttp.ClientSession, base: str, charge_point_id: str,
                       protocol: str = "ocpp1.6") -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(f"{base}/ocpp/{charge_point_id}", protocols=(protocol,),
                                 headers=auth_header(charge_point_id), autoping=True,
                                 heartbeat=None)


def spawn_self(*args: str) -> subprocess.Popen[bytes]:
    """Run the calling benchmark script again, as the server side, in its own process."""
    return subprocess.Popen([sys.executable, sys.argv[0], *args], stdout=subprocess.PIPE)


def wait_ready(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == b"READY":
            return
        if not line and proc.poll() is not None:
            raise RuntimeError("server process died")
    raise RuntimeError("server process not ready")


@contextlib.contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    """The given Redis URL, or a private redis-server for the run."""
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found; pass --redis-url")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def run(coro: Any) -> Any:
    return asyncio.run(coro)
