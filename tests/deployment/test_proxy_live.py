"""docker/nginx.conf run for real in front of two gateway instances: a charger always lands on
the instance its id hashes to, websockets pass, OCPI is spread, /metrics and /admin stay
inside. Needs nginx (CI installs nginx-light); the config is used as shipped, only the
upstream addresses and the listen port are pointed at this test's loopback ports."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from ocpp.v16 import call

from ocpi_gateway.app import Extension, create_app
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.ocpp_wiring import OCPP_SERVER
from tests.conftest import free_port
from tests.deployment._paths import NGINX
from tests.ocpp.ocpp_test_support import PASSWORD_HASH, ChargerFactory
from tests.peers.gateway import gateway_settings

CHARGER_IDS = [f"CP-HASH-{n:02d}" for n in range(12)]


def _nginx() -> str:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if binary is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("nginx is missing in CI; .ci/run installs nginx-light with apt")
        pytest.skip("nginx is not installed (apt-get install nginx-light); CI runs this test")
    return binary


def proxy_config(shipped: str, upstreams: dict[str, int], port: int) -> str:
    text = shipped
    for host, upstream_port in upstreams.items():
        text, count = re.subn(rf"\b{host}:8080\b", f"127.0.0.1:{upstream_port}", text)
        assert count == 2, f"{host} should appear in both upstreams"
    text, count = re.subn(r"listen\s+8080;", f"listen 127.0.0.1:{port};", text)
    assert count == 1
    return text


def _wait_for_listener(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx does not listen on {port}")


@pytest.fixture
def nginx_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, int]]]:
    binary = _nginx()
    work = tmp_path_factory.mktemp("nginx")
    upstreams = {"gateway-a": free_port(), "gateway-b": free_port()}
    port = free_port()
    (work / "site.conf").write_text(proxy_config(NGINX.read_text(), upstreams, port))
    temp = "\n".join(f"  {kind}_temp_path {work / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (work / "nginx.conf").write_text(
        f"pid {work / 'nginx.pid'};\nerror_log {work / 'error.log'};\nevents {{}}\n"
        f"http {{\n  access_log off;\n{temp}\n  include {work / 'site.conf'};\n}}\n")
    proc = subprocess.Popen([binary, "-c", str(work / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_listener(port, proc)
        yield port, upstreams
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Instances:
    proxy: str
    apps: dict[str, web.Application]

    def holder(self, charge_point_id: str) -> str | None:
        holders = [name for name, app in self.apps.items()
                   if charge_point_id in app[OCPP_SERVER].registry]
        assert len(holders) <= 1
        return holders[0] if holders else None


def _whoami(name: str) -> Extension:
    def install(app: web.Application, settings: GatewaySettings) -> None:
        async def whoami(request: web.Request) -> web.Response:
            return web.Response(text=name)

        app.router.add_get("/whoami", whoami)
    return install


@pytest.fixture
async def instances(nginx_port: tuple[int, dict[str, int]], tmp_path: Path
                    ) -> AsyncIterator[Instances]:
    port, upstreams = nginx_port
    chargers = tmp_path / "chargers.yaml"
    chargers.write_text("chargers:\n" + "".join(
        f'  - {{id: {cp}, ocpp_version: "1.6", password_hash: "{PASSWORD_HASH}"}}\n'
        for cp in CHARGER_IDS))
    runners, apps = [], {}
    for name, upstream_port in upstreams.items():
        folder = tmp_path / name
        folder.mkdir()
        settings = gateway_settings(folder, port=upstream_port, chargers_file=chargers,
                                    instance_id=name)
        app = create_app(settings, extensions=["ocpi_gateway.metrics:install",
                                               "ocpi_gateway.ocpp_wiring:install",
                                               _whoami(name)])
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", upstream_port).start()
        runners.append(runner)
        apps[name] = app
    try:
        yield Instances(f"127.0.0.1:{port}", apps)
    finally:
        for runner in runners:
            await runner.cleanup()


async def _wait_holder(instances: Instances, charge_point_id: str) -> str:
    for _ in range(100):
        holder = instances.holder(charge_point_id)
        if holder is not None:
            return holder
        await asyncio.sleep(0.02)
    raise AssertionError(f"{charge_point_id} is connected to no instance")


async def _wait_gone(instances: Instances, charge_point_id: str) -> None:
    for _ in range(100):
        if instances.holder(charge_point_id) is None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{charge_point_id} still connected")


async def test_a_charger_always_lands_on_the_instance_its_id_hashes_to(
    instances: Instances,
) -> None:
    first: dict[str, str] = {}
    async with aiohttp.ClientSession() as http:
        factory = ChargerFactory(http)
        for round_ in range(3):
            for cp in CHARGER_IDS:
                connected = await factory.connect(f"ws://{instances.proxy}/ocpp", cp, "1.6")
                if round_ == 0:
                    # OCPP flows both ways through the proxy, not only the handshake.
                    answer = await connected.charger.call(call.BootNotification(
                        charge_point_model="M", charge_point_vendor="V"))
                    assert answer.status == "Accepted"
                holder = await _wait_holder(instances, cp)
                if round_ == 0:
                    first[cp] = holder
                assert holder == first[cp], f"{cp} moved from {first[cp]} to {holder}"
                await connected.disconnect()
                await _wait_gone(instances, cp)
        await factory.close()
    # Twelve ids over two instances: both get chargers (all on one: p = 2^-11).
    assert set(first.values()) == set(instances.apps)


async def test_ocpi_traffic_is_spread_and_internal_paths_stay_inside(
    instances: Instances,
) -> None:
    seen: list[str] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(6):
            async with http.get(f"http://{instances.proxy}/whoami") as response:
                assert response.status == 200
                seen.append(await response.text())
        async with http.get(f"http://{instances.proxy}/ocpi/versions") as response:
            assert response.status == 401  # the gateway's own answer, through the proxy
            assert (await response.json())["status_code"] == 2000
        for path in ("/metrics", "/admin/reload"):
            async with http.request("GET" if path == "/metrics" else "POST",
                                    f"http://{instances.proxy}{path}") as response:
                assert response.status == 404
                assert "status_code" not in await response.text()
    assert set(seen) == set(instances.apps)
    assert seen[0] != seen[1]  # round-robin alternates
