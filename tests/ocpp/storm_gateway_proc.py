"""A gateway process holding OCPP connections, listening as ``ocpi-gateway serve`` does (a deep
kernel queue drained in small batches), for the tests that stop it (run as a script).

Usage: python storm_gateway_proc.py PORT COUNT   (chargers CP-STORM-0000 ... share PASSWORD)
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web
from ocpp_test_support import FAST, PASSWORD_HASH, RecordingPublisher, TableAuthorizer

from ocpi_gateway.listening import StormSite
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.ocpp_adapter.server import OcppServer


async def main(port: int, count: int) -> None:
    chargers = ChargersConfig.model_validate({"chargers": [
        {"id": f"CP-STORM-{n:04d}", "ocpp_version": "1.6", "password_hash": PASSWORD_HASH}
        for n in range(count)]})
    server = OcppServer(chargers, RecordingPublisher(), TableAuthorizer(),
                        instance_id="gw-storm", redis_url=None, timings=FAST)
    app = web.Application()
    server.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await StormSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
