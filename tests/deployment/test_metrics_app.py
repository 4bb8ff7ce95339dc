"""/metrics on the real gateway app: OCPI requests through the real transport are counted."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ocpi_gateway import app as gateway_app
from ocpi_gateway import metrics
from ocpi_gateway.partners.grants import Grants
from tests.deployment.test_metrics import NAMED_SERIES, value
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway


def test_metrics_is_a_default_extension() -> None:
    assert "ocpi_gateway.metrics:install" in gateway_app.EXTENSIONS


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    running = await start_gateway(gateway_settings(tmp_path),
                                  extensions=["ocpi_gateway.metrics:install"])
    yield running
    await running.stop()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


async def test_ocpi_requests_through_the_transport_are_counted(gateway: RunningGateway) -> None:
    _, token_a = await gateway.partners.invite("Metrics eMSP", Grants(any_role=True))
    ok = {"module": "versions", "method": "GET", "status_code": "1000", "http_status": "200"}
    refused = {"module": "versions", "method": "GET", "status_code": "2000",
               "http_status": "401"}
    details = {"module": "version_details", "method": "GET", "status_code": "1000",
               "http_status": "200"}
    before = [value("ocpi_requests_total", **labels) for labels in (ok, refused, details)]

    async with aiohttp.ClientSession() as http:
        async with http.get(gateway.versions_url, headers=_auth(token_a)) as response:
            assert response.status == 200
            assert (await response.json())["status_code"] == 1000
        async with http.get(gateway.versions_url, headers=_auth("not-a-token")) as response:
            assert response.status == 401
        async with http.get(gateway.url + "/ocpi/2.2.1", headers=_auth(token_a)) as response:
            assert response.status == 200
        async with http.get(gateway.url + "/metrics") as response:
            assert response.status == 200
            text = await response.text()

    after = [value("ocpi_requests_total", **labels) for labels in (ok, refused, details)]
    assert after == [before[0] + 1, before[1] + 1, before[2] + 1]
    exposed = {family.name for family in text_string_to_metric_families(text)}
    assert set(NAMED_SERIES) <= exposed
    assert value("ocpi_request_duration_seconds_count", module="versions", method="GET") >= 2


async def test_health_and_metrics_are_not_ocpi_requests(gateway: RunningGateway) -> None:
    before = sum(sample.value for family in metrics.REGISTRY.collect()
                 if family.name == "ocpi_requests" for sample in family.samples
                 if sample.name == "ocpi_requests_total")
    async with aiohttp.ClientSession() as http:
        for path in ("/health", "/metrics", "/metrics"):
            async with http.get(gateway.url + path) as response:
                assert response.status == 200
    after = sum(sample.value for family in metrics.REGISTRY.collect()
                if family.name == "ocpi_requests" for sample in family.samples
                if sample.name == "ocpi_requests_total")
    assert after == before
