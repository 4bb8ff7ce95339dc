"""Gateway extension: the Tariffs SENDER module (both versions) over ``tariffs_file``.

The tariffs are read at install (a ConfigError names file, tariff and key), every connector's
``tariff_ids`` in the locations are checked against them now and on every reload, and the
tariffs file is reloaded with the locations file (``/admin/reload``, SIGHUP). Every partner's
Tariffs receiver is brought up to date through the outbox at startup, when it registers (or
switches version) and on reload (``publisher.py``). Without ``tariffs_file`` the
module serves an empty list and ``tariff_ids`` are not checked (nothing to check them
against: a deployment that publishes its tariffs elsewhere).

Needs ``ocpi_gateway.locations.extension:install`` (and the outbox) listed before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.config import ConfigError, GatewaySettings
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.locations.catalog import LocationsConfigError
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.tariffs.catalog import TariffsCatalog
from ocpi_gateway.tariffs.publisher import TariffsPublisher, tariffs_receivers
from ocpi_gateway.tariffs.sender import add_routes_for

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # no file: no tariff, no modification time
TARIFFS: web.AppKey[TariffsPublisher] = web.AppKey("tariffs", TariffsPublisher)


def install(app: web.Application, settings: GatewaySettings) -> None:
    party = (settings.cpo_roles[0].country_code, settings.cpo_roles[0].party_id)
    locations = app[LOCATIONS]
    try:
        catalog = (TariffsCatalog.from_file(settings.tariffs_file, party=party)
                   if settings.tariffs_file else TariffsCatalog([], party=party,
                                                                modified=_NEVER))
        publisher = TariffsPublisher(catalog)
        if settings.tariffs_file:
            locations.catalog.add_check(publisher.check_references)
    except LocationsConfigError as exc:
        raise ConfigError(str(exc)) from exc
    app[TARIFFS] = publisher
    if settings.tariffs_file:
        locations.reload_hooks.append(publisher)
    app[keys.MODULES].add(OcpiModule(
        "tariffs", InterfaceRole.SENDER,
        add_routes_for(lambda: publisher.catalog, settings.public_url)))

    async def tariffs_ctx(app: web.Application) -> AsyncIterator[None]:
        publisher.attach(app.get(OUTBOX), tariffs_receivers(app[keys.PARTNERS].registered_now),
                         app[keys.STORE])
        await publisher.start(app[keys.LOOPS])
        yield
        await publisher.stop()

    app.cleanup_ctx.append(tariffs_ctx)
