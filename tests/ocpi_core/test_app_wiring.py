"""The whole app as create_app builds it with every extension."""

from __future__ import annotations

from pathlib import Path

from ocpi_gateway import keys
from ocpi_gateway.commands.handlers import COMMAND_SERVICE
from ocpi_gateway.ocpp_wiring import OCPP_SERVER
from tests.peers.gateway import gateway_settings, start_gateway


async def test_one_instance_id_per_process_shared_by_every_part(tmp_path: Path) -> None:
    running = await start_gateway(gateway_settings(tmp_path))
    try:
        settings = running.app[keys.SETTINGS]
        assert settings.instance_id is not None and settings.instance_id.startswith("gw-")
        assert running.app[OCPP_SERVER].instance_id == settings.instance_id
        assert running.app[COMMAND_SERVICE]._instance_id == settings.instance_id
    finally:
        await running.stop()


async def test_configured_instance_id_is_kept(tmp_path: Path) -> None:
    running = await start_gateway(gateway_settings(tmp_path, instance_id="gw-a"))
    try:
        assert running.app[OCPP_SERVER].instance_id == "gw-a"
    finally:
        await running.stop()
