"""``ocpi-gateway serve`` terminating TLS itself (listen.tls_cert_file / tls_key_file)."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.conftest import free_port

# Its tests start Python processes (the CLI, a gateway): slow on a loaded machine, not stuck.
pytestmark = pytest.mark.timeout(300)

CONFIG = Path(__file__).resolve().parents[2] / "config"


async def test_serve_answers_over_https_when_given_a_certificate(
        tmp_path: Path, tls_certificate: tuple[Path, Path]) -> None:
    cert, _key = tls_certificate
    port = free_port()
    config = yaml.safe_load((CONFIG / "gateway.yaml").read_text())
    config.update(
        listen={"host": "127.0.0.1", "port": port, "tls_cert_file": "cert.pem",
                "tls_key_file": "key.pem"},  # relative to the config file's folder
        public_url=f"https://127.0.0.1:{port}", store_url="sqlite:///g.db",
        locations_file=str(CONFIG / "locations.yaml"), policy_file=str(CONFIG / "policy.yaml"),
        tariffs_file=str(CONFIG / "tariffs.yaml"),
        chargers_file=str(CONFIG / "chargers.yaml"),
        operators_file=str(CONFIG / "operators.yaml"))
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCPI_GATEWAY_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ocpi_gateway.cli", "--config", str(path), "serve", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    client_tls = ssl.create_default_context(cafile=str(cert))
    try:
        assert proc.stdout is not None
        while True:  # serve prints this once the port is bound, however long that takes
            line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
            assert line, "serve ended before listening"
            if line.startswith("ocpi-gateway listening on "):
                break
        assert line.split()[-1] == f"https://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://127.0.0.1:{port}/health",
                                ssl=client_tls) as response:
                assert response.status == 200
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/health") as response:
                    await response.read()
    finally:
        proc.terminate()
        await proc.wait()


def test_certificate_without_key_is_a_config_error(tmp_path: Path) -> None:
    from ocpi_gateway.config import ConfigError, load_settings

    path = tmp_path / "gateway.yaml"
    config = yaml.safe_load((CONFIG / "gateway.yaml").read_text())
    config["listen"] = {"tls_cert_file": "cert.pem"}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="listen"):
        load_settings(path)
