"""Gateway extension: the Locations SENDER module, live status, pushes, SIGHUP (``POST
/admin/reload`` is mounted by the admin extension, which authenticates it).

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

import structlog
from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.config import ConfigError, GatewaySettings
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.domain.charger_commands import TriggerStatusNotification
from ocpi_gateway.hubclientinfo.handlers import HUB_CLIENTS, ON_REPORT
from ocpi_gateway.hubclientinfo.models import ConnectionStatus
from ocpi_gateway.locations.catalog import LocationsConfigError
from ocpi_gateway.locations.charger_capabilities import CapabilityReader
from ocpi_gateway.locations.module import LocationsModule, partner_receivers
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.ocpp_wiring import CHARGER_COMMANDS, OCPP_SERVER
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore
from ocpi_gateway.reservation_policy.availability.recovery import AvailabilityRecovery
from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability, open_availability

log = structlog.get_logger(__name__)

AVAILABILITY: web.AppKey[AvailabilityStore] = web.AppKey("availability")
AVAILABILITY_RECOVERY: web.AppKey[AvailabilityRecovery] = web.AppKey(
    "availability_recovery", AvailabilityRecovery)
LOCATIONS: web.AppKey[LocationsModule] = web.AppKey("locations", LocationsModule)
CAPABILITY_READER: web.AppKey[CapabilityReader] = web.AppKey("capability_reader",
                                                             CapabilityReader)


def install(app: web.Application, settings: GatewaySettings) -> None:
    availability = app.get(AVAILABILITY)
    if availability is None:
        availability = app[AVAILABILITY] = open_availability(settings.redis)
    try:
        module = LocationsModule(
            settings.locations_file, availability, store=None, outbox=None, receivers=None,
            bus=app[keys.EVENT_BUS],
            public_url=settings.public_url,
            offline_grace=settings.charger_offline_grace_seconds,
            # Several instances share Redis: adopt the statuses the others' chargers report.
            shared_sync_interval=1.0 if settings.redis else None,
        )
    except LocationsConfigError as exc:
        raise ConfigError(str(exc)) from exc
    app[LOCATIONS] = module
    recovery: AvailabilityRecovery | None = None
    if isinstance(availability, RedisAvailability):
        recovery = app[AVAILABILITY_RECOVERY] = AvailabilityRecovery(
            availability, lambda: [loc.id for loc in module.publisher.catalog.locations()],
            check_interval=settings.redis_recovery.check_interval_seconds,
            settle=settings.redis_recovery.settle_seconds, loops=app[keys.LOOPS])
        ocpp_server = app.get(OCPP_SERVER)
        if ocpp_server is not None:
            recovery.add_status_restorer(ocpp_server.reclaim_presence)
        recovery.add_status_restorer(module.publisher.restore_statuses)
    commands = app.get(CHARGER_COMMANDS)
    if commands is not None:
        timeout = settings.command_timeouts.charger_seconds

        async def trigger(charge_point_id: str,
                          targets: list[tuple[int | None, int | None]]) -> None:
            for evse_id, connector_id in targets:
                outcome = await commands.execute(TriggerStatusNotification(
                    charge_point_id=charge_point_id, evse_id=evse_id,
                    connector_id=connector_id), timeout)
                log.info("status_trigger_sent", charge_point_id=charge_point_id,
                         evse_id=evse_id, connector_id=connector_id, outcome=outcome.value)

        module.publisher.trigger = trigger
        module.publisher.trigger_delay = settings.charger_status_trigger_seconds

    reader: CapabilityReader | None = None
    ocpp = app.get(OCPP_SERVER)
    if ocpp is not None:
        # What each charger says it can reserve, read when it connects.
        reader = app[CAPABILITY_READER] = CapabilityReader(
            ocpp.queries, module.publisher.capabilities_read,
            timeout=settings.command_timeouts.charger_seconds,
            delay=settings.charger_status_trigger_seconds)
        app[keys.EVENT_BUS].subscribe(reader.on_event)

    def add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
        router.add_routes(module.routes(prefix, version))

    app[keys.MODULES].add(OcpiModule("locations", InterfaceRole.SENDER, add_routes))

    async def availability_ready() -> bool:
        # Not ready while it is rebuilt after Redis lost its data either.
        return await availability.ping() and availability.ready

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
            receivers=partner_receivers(app[keys.PARTNERS].registered_now,
                                        hub_parties=hub_parties),
            loops=app[keys.LOOPS])
        await module.start()
        if recovery is not None:
            await recovery.start()
        loop = asyncio.get_running_loop()
        hup = False
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            module.install_sighup(loop)  # only in the main thread (``serve``)
            hup = True
        yield
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
        if recovery is not None:
            await recovery.stop()
        if reader is not None:
            await reader.stop()
        await module.stop()
        await availability.close()

    app.cleanup_ctx.append(locations_ctx)
