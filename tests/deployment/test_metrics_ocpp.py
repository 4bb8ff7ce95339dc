"""OCPP series on the real app: real 1.6 and 2.0.1 chargers (the ``ocpp`` package's client
side) connect to the gateway with the OCPP extension; /metrics follows connections and the
round trip of commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from ocpi_gateway.app import create_app
from ocpi_gateway.domain.charger_commands import CommandOutcome, ReserveNow
from ocpi_gateway.ocpp_wiring import CHARGER_COMMANDS
from tests.conftest import free_port
from tests.deployment.test_metrics import families, value
from tests.ocpp.ocpp_test_support import PASSWORD_HASH, Behaviour, ChargerFactory, eventually
from tests.peers.gateway import gateway_settings

CHARGERS_YAML = f"""
chargers:
  - {{id: CP-MET-16, ocpp_version: "1.6", password_hash: "{PASSWORD_HASH}"}}
  - {{id: CP-MET-201, ocpp_version: "2.0.1", password_hash: "{PASSWORD_HASH}"}}
"""


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[str, web.Application]]:
    chargers = tmp_path / "chargers.yaml"
    chargers.write_text(CHARGERS_YAML, encoding="utf-8")
    port = free_port()
    settings = gateway_settings(tmp_path, port=port, chargers_file=chargers,
                                command_timeouts={"charger_seconds": 5})
    app = create_app(settings, extensions=["ocpi_gateway.metrics:install",
                                           "ocpi_gateway.ocpp_wiring:install"])
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"127.0.0.1:{port}", app
    await runner.cleanup()


@pytest.fixture
async def chargers() -> AsyncIterator[ChargerFactory]:
    async with aiohttp.ClientSession() as http:
        factory = ChargerFactory(http)
        yield factory
        await factory.close()


async def _scrape(host: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://{host}/metrics") as response:
        assert response.status == 200
        return await response.text()


def _gauge(text: str, version: str) -> float:
    return next(s.value for s in families(text)["ocpp_connections"].samples
                if s.labels["version"] == version)


async def test_connections_and_command_round_trips_show_in_metrics(
    gateway: tuple[str, web.Application], chargers: ChargerFactory,
) -> None:
    host, app = gateway
    opened_16 = value("ocpp_connections_opened_total", version="1.6")
    opened_201 = value("ocpp_connections_opened_total", version="2.0.1")
    text = await _scrape(host)
    assert (_gauge(text, "1.6"), _gauge(text, "2.0.1")) == (0, 0)

    cp16 = await chargers.connect(f"ws://{host}/ocpp", "CP-MET-16", "1.6",
                                  behaviour=Behaviour(reserve="Occupied"))
    await chargers.connect(f"ws://{host}/ocpp", "CP-MET-201", "2.0.1")
    text = await _scrape(host)
    assert (_gauge(text, "1.6"), _gauge(text, "2.0.1")) == (1, 1)

    async def opened() -> bool:
        return (value("ocpp_connections_opened_total", version="1.6") == opened_16 + 1
                and value("ocpp_connections_opened_total", version="2.0.1") == opened_201 + 1)

    assert await eventually(opened)

    occupied = value("ocpp_command_roundtrip_seconds_count", command="ReserveNow",
                     outcome="occupied")
    accepted = value("ocpp_command_roundtrip_seconds_count", command="ReserveNow",
                     outcome="accepted")
    expiry = datetime.now(UTC) + timedelta(minutes=10)
    app_commands = app[CHARGER_COMMANDS]
    assert await app_commands.execute(
        ReserveNow(charge_point_id="CP-MET-16", reservation_id=1, id_token="TAG", expiry=expiry,
                   connector_id=1), 3) is CommandOutcome.OCCUPIED
    assert await app_commands.execute(
        ReserveNow(charge_point_id="CP-MET-201", reservation_id=2, id_token="TAG",
                   expiry=expiry, evse_id=1), 3) is CommandOutcome.ACCEPTED
    assert value("ocpp_command_roundtrip_seconds_count", command="ReserveNow",
                 outcome="occupied") == occupied + 1
    assert value("ocpp_command_roundtrip_seconds_count", command="ReserveNow",
                 outcome="accepted") == accepted + 1

    await cp16.disconnect()

    async def gone() -> bool:
        return _gauge(await _scrape(host), "1.6") == 0

    assert await eventually(gone)
    assert _gauge(await _scrape(host), "2.0.1") == 1
