"""A gateway process holding OCPP connections, for the multi-instance tests (run as a script).

Usage: python ocpp_gateway_proc.py PORT REDIS_URL INSTANCE_ID
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web
from ocpp_test_support import LIMITS, STEADY, RecordingPublisher, TableAuthorizer, chargers_config

from ocpi_gateway.ocpp_adapter.server import OcppServer


async def main(port: int, redis_url: str, instance_id: str) -> None:
    server = OcppServer(chargers_config(), RecordingPublisher(), TableAuthorizer(),
                        instance_id=instance_id, redis_url=redis_url, timings=STEADY,
                        login_limits=LIMITS)
    app = web.Application()
    server.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
