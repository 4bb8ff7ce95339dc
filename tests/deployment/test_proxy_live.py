"""docker/nginx.conf run for real in front of two gateway instances: a charger always lands on
the instance its id hashes to, websockets pass, OCPI is spread, /metrics and /admin stay
inside, TLS ends at the proxy (security profile 2), and failed-login limits count each
charger's own address. Needs nginx (CI installs nginx-light); the config is used as shipped,
only the upstream addresses, the listen ports and the certificate are pointed at this test's
loopback ports and files. The gateways run with the `ocpp:` section of docker/gateway-*.yaml,
the proxy's compose address in `trusted_proxies` pointed at loopback the same way. Chargers
connect from other loopback addresses (127.0.0.10, 127.0.0.66, ...), as from other hosts."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from ocpp.v16 import call

from ocpi_gateway.app import Extension, create_app
from ocpi_gateway.config import GatewaySettings, load_settings
from ocpi_gateway.ocpp_wiring import OCPP_SERVER
from tests.conftest import free_port
from tests.deployment._paths import COMPOSE, DOCKER, NGINX
from tests.ocpp.ocpp_test_support import PASSWORD, PASSWORD_HASH, ChargerFactory, basic_auth
from tests.peers.gateway import gateway_settings

CHARGER_IDS = [f"CP-HASH-{n:02d}" for n in range(12)]
TLS_CHARGER = "CP-TLS-01"


def _nginx() -> str:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if binary is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("nginx is missing in CI; .ci/run installs nginx-light with apt")
        pytest.skip("nginx is not installed (apt-get install nginx-light); CI runs this test")
    return binary


def proxy_config(shipped: str, upstreams: dict[str, int], port: int, tls_port: int,
                 certificate: tuple[Path, Path]) -> str:
    text = shipped
    for host, upstream_port in upstreams.items():
        text, count = re.subn(rf"\b{host}:8080\b", f"127.0.0.1:{upstream_port}", text)
        assert count == 2, f"{host} should appear in both upstreams"
    text, count = re.subn(r"listen\s+8080;", f"listen 127.0.0.1:{port};", text)
    assert count == 1
    text, count = re.subn(r"listen\s+8443\s+ssl;", f"listen 127.0.0.1:{tls_port} ssl;", text)
    assert count == 1
    for shipped_file, ours in zip(("/etc/nginx/certs/fullchain.pem",
                                   "/etc/nginx/certs/privkey.pem"), certificate, strict=True):
        assert text.count(shipped_file) == 1
        text = text.replace(shipped_file, str(ours))
    return text


def proxy_address_in_compose() -> str:
    proxy = yaml.safe_load(COMPOSE.read_text())["services"]["proxy"]
    address: str = proxy["networks"]["internal"]["ipv4_address"]
    return address


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


@dataclass
class Proxy:
    port: int
    tls_port: int
    upstreams: dict[str, int]
    certificate: Path


@pytest.fixture
def nginx_port(tmp_path_factory: pytest.TempPathFactory,
               tls_certificate: tuple[Path, Path]) -> Iterator[Proxy]:
    binary = _nginx()
    work = tmp_path_factory.mktemp("nginx")
    upstreams = {"gateway-a": free_port(), "gateway-b": free_port()}
    port, tls_port = free_port(), free_port()
    (work / "site.conf").write_text(
        proxy_config(NGINX.read_text(), upstreams, port, tls_port, tls_certificate))
    temp = "\n".join(f"  {kind}_temp_path {work / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (work / "nginx.conf").write_text(
        f"pid {work / 'nginx.pid'};\nerror_log {work / 'error.log'};\nevents {{}}\n"
        f"http {{\n  access_log off;\n{temp}\n  include {work / 'site.conf'};\n}}\n")
    proc = subprocess.Popen([binary, "-c", str(work / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_listener(port, proc)
        _wait_for_listener(tls_port, proc)
        yield Proxy(port, tls_port, upstreams, tls_certificate[0])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Instances:
    proxy: str
    tls_proxy: str
    apps: dict[str, web.Application]
    upstreams: dict[str, int]
    certificate: Path

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
async def instances(nginx_port: Proxy, tmp_path: Path) -> AsyncIterator[Instances]:
    upstreams = nginx_port.upstreams
    chargers = tmp_path / "chargers.yaml"
    chargers.write_text("chargers:\n" + "".join(
        f'  - {{id: {cp}, ocpp_version: "1.6", password_hash: "{PASSWORD_HASH}"}}\n'
        for cp in CHARGER_IDS) + f'  - {{id: {TLS_CHARGER}, security_profile: 2, '
        f'password_hash: "{PASSWORD_HASH}"}}\n')
    proxy_in_compose = proxy_address_in_compose()
    runners, apps = [], {}
    for name, upstream_port in upstreams.items():
        folder = tmp_path / name
        folder.mkdir()
        shipped = load_settings(DOCKER / f"{name}.yaml").ocpp
        assert shipped.trusted_proxies == [proxy_in_compose]
        ocpp = shipped.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
        settings = gateway_settings(folder, port=upstream_port, chargers_file=chargers,
                                    instance_id=name, ocpp=ocpp)
        app = create_app(settings, extensions=["ocpi_gateway.metrics:install",
                                               "ocpi_gateway.ocpp_wiring:install",
                                               _whoami(name)])
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", upstream_port).start()
        runners.append(runner)
        apps[name] = app
    try:
        yield Instances(f"127.0.0.1:{nginx_port.port}", f"127.0.0.1:{nginx_port.tls_port}",
                        apps, upstreams, nginx_port.certificate)
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


async def _login(url: str, charge_point_id: str, *, source: str, password: str = PASSWORD,
                 headers: dict[str, str] | None = None,
                 tls: ssl.SSLContext | None = None) -> int:
    """One websocket login from the loopback address ``source``: 101 when admitted."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0), ssl=tls if tls else False)
    async with aiohttp.ClientSession(connector=connector) as http:
        try:
            ws = await http.ws_connect(
                f"{url}/{charge_point_id}", protocols=("ocpp1.6",),
                headers={"Authorization": basic_auth(charge_point_id, password),
                         **(headers or {})})
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        await ws.close()
        return 101


async def test_failed_logins_count_each_chargers_own_address_through_the_proxy(
    instances: Instances,
) -> None:
    proxy = f"ws://{instances.proxy}/ocpp"
    allowed = load_settings(DOCKER / "gateway-a.yaml").ocpp.failed_logins_allowed
    forged = {"X-Forwarded-For": "127.0.0.10"}  # the attacker claims the charger's address
    statuses = [await _login(proxy, "CP-HASH-00", source="127.0.0.66", password="guess",
                             headers=forged) for _ in range(allowed + 2)]
    assert statuses == [401] * allowed + [429] * 2
    # Without the proxy's X-Forwarded-For every charger would be nginx's 127.0.0.1: locked out.
    assert await _login(proxy, "CP-HASH-00", source="127.0.0.10") == 101
    assert await _login(proxy, "CP-HASH-01", source="127.0.0.66") == 101  # same NAT, other id
    assert await _login(proxy, "CP-HASH-00", source="127.0.0.66") == 429


async def test_a_security_profile_2_charger_connects_through_the_proxys_tls(
    instances: Instances,
) -> None:
    tls = ssl.create_default_context(cafile=str(instances.certificate))
    connector = aiohttp.TCPConnector(ssl=tls)
    async with aiohttp.ClientSession(connector=connector) as http:
        connected = await ChargerFactory(http).connect(
            f"wss://{instances.tls_proxy}/ocpp", TLS_CHARGER, "1.6")
        answer = await connected.charger.call(call.Heartbeat())
        assert answer.current_time
        assert await _wait_holder(instances, TLS_CHARGER)
        await connected.disconnect()
    assert await _login(f"ws://{instances.proxy}/ocpp", TLS_CHARGER, source="127.0.0.10") == 403
    # A profile 1 charger does not come in over TLS either.
    assert await _login(f"wss://{instances.tls_proxy}/ocpp", "CP-HASH-02", source="127.0.0.10",
                        tls=tls) == 403


async def test_past_the_proxy_nobody_is_believed_about_address_or_tls(
    instances: Instances,
) -> None:
    direct = f"ws://127.0.0.1:{instances.upstreams['gateway-a']}/ocpp"
    claims = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.10"}
    assert await _login(direct, TLS_CHARGER, source="127.0.0.66", headers=claims) == 403
