"""Gateway extension: the Locations SENDER module, live status, pushes, admin reload, SIGHUP.

Leaves on the app, for the Commands module and the reservation policy:

- ``app[AVAILABILITY]``: the ``AvailabilityStore`` (Redis when one is configured, else
  in-process), available from install time;
- ``app[LOCATIONS]``: the ``LocationsModule``; ``app[LOCATIONS].catalog`` is the current
  ``LocationsCatalog`` (read it at call time: a reload replaces it).

Needs ``ocpi_gateway.deliveries.app:install`` listed before it (for ``app[OUTBOX]``), and
``ocpi_gateway.hubclientinfo.extension:install`` before it for pushes per party behind a hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.config import ConfigError, GatewaySettings
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.hubclientinfo.handlers import HUB_CLIENTS, ON_REPORT
from ocpi_gateway.hubclientinfo.models import ConnectionStatus
from ocpi_gateway.locations.catalog import LocationsConfigError
from ocpi_gateway.locations.module import LocationsModule, partner_receivers
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore
from ocpi_gateway.reservation_policy.availability.redis import open_availability

AVAILABILITY: web.AppKey[AvailabilityStore] = web.AppKey("availability")
LOCATIONS: web.AppKey[LocationsModule] = web.AppKey("locations", LocationsModule)


def install(app: web.Application, settings: GatewaySettings) -> None:
    availability = app.get(AVAILABILITY)
    if availability is None:
        availability = app[AVAILABILITY] = open_availability(settings.redis)
    try:
        module = LocationsModule(
            settings.locations_file, availability, store=None, outbox=None, receivers=None,
            bus=app[keys.EVENT_BUS], admin_token=settings.admin_token,
            public_url=settings.public_url,
            offline_grace=settings.charger_offline_grace_seconds,
            # Several instances share Redis: adopt the statuses the others' chargers report.
            shared_sync_interval=1.0 if settings.redis else None,
        )
    except LocationsConfigError as exc:
        raise ConfigError(str(exc)) from exc
    app[LOCATIONS] = module

    def add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
        router.add_routes(module.routes(prefix, version))

    app[keys.MODULES].add(OcpiModule("locations", InterfaceRole.SENDER, add_routes))
    if settings.admin_token:
        app.router.add_routes(module.admin_routes())

    async def availability_ready() -> bool:
        return await availability.ping()

    app[keys.READINESS_CHECKS].setdefault("availability", availability_ready)

    async def locations_ctx(app: web.Application) -> AsyncIterator[None]:
        clients = app.get(HUB_CLIENTS)
        hub_parties = None
        if clients is not None:
            async def hub_parties(partner: Partner) -> list[tuple[str, str]] | None:
                reported = await clients.reported(partner.id)
                if not reported and partner.endpoint("hubclientinfo", "SENDER") is None:
                    return None  # the hub reports nothing: it routes what we send it
                # Until its first report (the initial sync), nobody behind it is connected.
                return [i.key for i in reported.values()
                        if i.status is ConnectionStatus.CONNECTED and i.role != "CPO"]

            # A party reported back CONNECTED gets every Location (it missed the changes).
            app[ON_REPORT].append(module.publisher.welcome_new_receivers)
        module.publisher.attach(
            store=app[keys.STORE], outbox=app.get(OUTBOX),
            receivers=partner_receivers(app[keys.PARTNERS].registered,
                                        hub_parties=hub_parties))
        await module.start()
        loop = asyncio.get_running_loop()
        hup = False
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            module.install_sighup(loop)  # only in the main thread (``serve``)
            hup = True
        yield
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
        await module.stop()
        await availability.close()

    app.cleanup_ctx.append(locations_ctx)
