"""The real gateway application on a loopback port, for tests of any part."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.app import Extension, create_app
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.partners.registry import PartnerRegistry
from tests.conftest import free_port

ROLE_NL = {"country_code": "NL", "party_id": "EXA", "business_details": {"name": "Example CPO"}}
ROLE_BE = {"country_code": "BE", "party_id": "EXB", "business_details": {"name": "Example BE"}}


def gateway_settings(tmp_path: Path, *, port: int | None = None,
                     roles: Sequence[dict[str, Any]] = (ROLE_NL,), **overrides: Any,
                     ) -> GatewaySettings:
    """Settings for a test gateway: SQLite in tmp_path, no Redis, one CPO role by default,
    loopback response_urls allowed."""
    port = port or free_port()
    values: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "public_url": f"http://127.0.0.1:{port}",
        "cpo_roles": list(roles),
        "store_url": f"sqlite:///{tmp_path / 'gateway.db'}",
        # After a Redis restart: short checks and settle, so that tests wait little.
        "redis_recovery": {"check_interval_seconds": 0.05, "settle_seconds": 0.25},
        # The test eMSPs receive CommandResults on loopback.
        "allow_private_response_urls": True,
        **overrides,
    }
    return GatewaySettings(**values)


@dataclass
class RunningGateway:
    settings: GatewaySettings
    app: web.Application
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return self.settings.public_url

    @property
    def versions_url(self) -> str:
        return self.url + "/ocpi/versions"

    @property
    def partners(self) -> PartnerRegistry:
        return self.app[keys.PARTNERS]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_gateway(settings: GatewaySettings,
                        extensions: Sequence[Extension | str] | None = None, *,
                        wait_ready: bool = True,
                        clock: Callable[[], datetime] | None = None) -> RunningGateway:
    """``clock``: the gateway's ``app[keys.CLOCK]`` (default: the wall clock)."""
    app = create_app(settings, extensions=extensions, **({"clock": clock} if clock else {}))
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, settings.listen.host, settings.listen.port).start()
    if wait_ready:
        # On a fresh Redis the availability is first built (run marker, settle): like a load
        # balancer, tests start once /ready would answer 200.
        from ocpi_gateway.locations.extension import AVAILABILITY

        availability = app.get(AVAILABILITY)
        if availability is not None:
            assert await availability.wait_ready(30), "availability never became ready"
    return RunningGateway(settings, app, runner)
