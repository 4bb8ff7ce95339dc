"""Gateway extension: the HubClientInfo RECEIVER (both versions), the initial sync by GET on
each hub's sender, and the check that a hub forwards only for parties it reported.

Leaves ``app[HUB_CLIENTS]`` (the reports) and ``app[ON_REPORT]`` (callbacks run after each
report: the Locations extension adds its publisher's receiver refresh)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.hubclientinfo.handlers import HUB_CLIENTS, ON_REPORT, add_routes
from ocpi_gateway.hubclientinfo.repository import HubClients
from ocpi_gateway.hubclientinfo.sync import HubClientSync
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.transport.routing import HUB_REPORTS


def install(app: web.Application, settings: GatewaySettings) -> None:
    app[keys.MODULES].add(OcpiModule("hubclientinfo", InterfaceRole.RECEIVER, add_routes))
    callbacks: list[Callable[[], Awaitable[object]]] = []
    app[ON_REPORT] = callbacks

    async def reported() -> None:
        for callback in callbacks:
            await callback()

    async def hubclientinfo_ctx(app: web.Application) -> AsyncIterator[None]:
        clients = HubClients(app[keys.STORE])
        app[HUB_CLIENTS] = clients
        app[HUB_REPORTS] = clients
        sync = HubClientSync(app[keys.PARTNERS], app[keys.OCPI_CLIENT], clients,
                             on_report=reported, loops=app[keys.LOOPS])
        sync.start()
        yield
        await sync.stop()

    app.cleanup_ctx.append(hubclientinfo_ctx)
