"""Gateway extension: the CDRs SENDER module (both versions): CDRs made from the sessions'
changes, POSTed to the eMSPs, listed by GET, credited on late news of a fault.

Leaves ``app[CDRS]`` (the ``CdrService``, from startup on: ``add_unused_listener`` for what
follows an unused reservation, ``credit`` for the operator). Needs the sessions extension
listed before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.cdrs.publisher import CdrsPublisher
from ocpi_gateway.cdrs.repository import CdrRepository
from ocpi_gateway.cdrs.sender import add_routes_for
from ocpi_gateway.cdrs.service import CdrService
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.domain.events import DomainEvent
from ocpi_gateway.domain.loops import BackgroundLoop
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.sessions.extension import SESSIONS

CDRS: web.AppKey[CdrService] = web.AppKey("cdrs", CdrService)


def install(app: web.Application, settings: GatewaySettings) -> None:
    def repo() -> CdrRepository:
        return app[CDRS].repo

    app[keys.MODULES].add(OcpiModule("cdrs", InterfaceRole.SENDER,
                                     add_routes_for(repo, settings.public_url)))

    async def on_event(event: DomainEvent) -> None:
        service = app.get(CDRS)
        if service is not None:
            await service.on_event(event)

    app[keys.EVENT_BUS].subscribe(on_event)

    async def cdrs_ctx(app: web.Application) -> AsyncIterator[None]:
        publisher = CdrsPublisher(app[keys.PARTNERS].registered_now)
        publisher.attach(app[OUTBOX])
        service = CdrService(CdrRepository(app[keys.STORE]), publisher, clock=app[keys.CLOCK],
                             evse_at=lambda cp, evse, connector: app[LOCATIONS].catalog.evse_at(
                                 cp, evse, connector), sessions=app[SESSIONS].repo)
        app[SESSIONS].add_listener(service.on_session)
        app[CDRS] = service
        sweeper = BackgroundLoop("cdrs-sweep", service.sweep, interval=SWEEP_INTERVAL,
                                 registry=app[keys.LOOPS], run_at_start=False)
        sweeper.start()
        yield
        await sweeper.stop()

    app.cleanup_ctx.append(cdrs_ctx)


SWEEP_INTERVAL = 30.0
"""Seconds between sweeps for finished sessions a crash left unbilled."""

