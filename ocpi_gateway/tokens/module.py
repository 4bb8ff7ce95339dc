"""Plugs the Tokens receiver into the app and makes it the chargers' token authorizer."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.ocpp_wiring import TOKEN_AUTHORIZER
from ocpi_gateway.tokens import handlers
from ocpi_gateway.tokens.authorizer import TokenStoreAuthorizer
from ocpi_gateway.tokens.models import LocationReferences
from ocpi_gateway.tokens.realtime import RealtimeAuthorizer
from ocpi_gateway.tokens.repository import TokenRepository

MODULE = OcpiModule("tokens", InterfaceRole.RECEIVER, handlers.add_routes)


def install(app: web.Application, settings: GatewaySettings) -> None:
    app[keys.MODULES].add(MODULE)

    def references(charge_point_id: str) -> tuple[LocationReferences, tuple[str, str]] | None:
        """LocationReferences for a real-time authorization at this charger, and the CPO
        party owning that location."""
        module = app.get(LOCATIONS)
        if module is None:
            return None
        catalog = module.catalog
        places = catalog.evses_of_charger(charge_point_id)
        if not places:
            return None
        location_id = places[0][0]
        location = catalog.get(location_id)
        if location is None:
            return None
        evse_uids = tuple(uid for loc, uid in places if loc == location_id)
        return (LocationReferences(location_id=location_id, evse_uids=evse_uids),
                (location.country_code, location.party_id))

    async def tokens_ctx(app: web.Application) -> AsyncIterator[None]:
        repo = TokenRepository(app[keys.STORE])
        app[handlers.TOKENS] = repo
        realtime = RealtimeAuthorizer(app[keys.PARTNERS], app[keys.OCPI_CLIENT], references)
        app[TOKEN_AUTHORIZER] = TokenStoreAuthorizer(repo, realtime, clock=app[keys.CLOCK])
        yield

    app.cleanup_ctx.append(tokens_ctx)
