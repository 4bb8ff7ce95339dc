"""/metrics can be kept from strangers: a bearer token, and/or a listen address of its own."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from ocpi_gateway.config import GatewaySettings, MetricsSettings
from tests.conftest import free_port
from tests.peers.gateway import gateway_settings, start_gateway

TOKEN = "metrics-token-0123456789abcdef"


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.text(), dict(response.headers)


def _settings(tmp_path: Path, **metrics: object) -> GatewaySettings:
    return gateway_settings(tmp_path, metrics=metrics)


async def test_with_a_token_a_stranger_gets_401_and_the_scraper_the_figures(
        tmp_path: Path) -> None:
    gateway = await start_gateway(_settings(tmp_path, bearer_token=TOKEN),
                                  extensions=["ocpi_gateway.metrics:install"])
    try:
        url = gateway.url + "/metrics"
        for headers in (None, {"Authorization": "Bearer wrong"},
                        {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"},
                        {"Authorization": f"Bearer {TOKEN}x"}):
            status, body, response_headers = await _get(url, headers)
            assert status == 401, headers
            assert "ocpi_requests_total" not in body
            assert response_headers["WWW-Authenticate"].startswith("Bearer")
        status, body, _ = await _get(url, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and "ocpi_requests_total" in body
    finally:
        await gateway.stop()


async def test_a_listen_address_of_its_own_keeps_metrics_off_the_public_port(
        tmp_path: Path) -> None:
    port = free_port()
    gateway = await start_gateway(
        _settings(tmp_path, listen={"host": "127.0.0.1", "port": port}, bearer_token=TOKEN),
        extensions=["ocpi_gateway.metrics:install"])
    try:
        status, body, _ = await _get(gateway.url + "/metrics",
                                     {"Authorization": f"Bearer {TOKEN}"})
        assert status == 404 and "ocpi_requests_total" not in body
        status, _, _ = await _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 401
        status, body, _ = await _get(f"http://127.0.0.1:{port}/metrics",
                                     {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and "ocpi_requests_total" in body
    finally:
        await gateway.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(f"http://127.0.0.1:{port}/metrics")  # closed with the gateway


async def test_without_protection_metrics_stay_open_as_before(tmp_path: Path) -> None:
    gateway = await start_gateway(_settings(tmp_path),
                                  extensions=["ocpi_gateway.metrics:install"])
    try:
        status, body, _ = await _get(gateway.url + "/metrics")
        assert status == 200 and "ocpi_requests_total" in body
    finally:
        await gateway.stop()


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 16"):
        MetricsSettings(bearer_token="short")
