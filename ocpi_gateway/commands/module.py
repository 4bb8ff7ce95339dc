"""Gateway extension: the Commands receiver and its result deliveries.

Needs the Tokens, Locations, deliveries, reservations and sessions extensions listed before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.commands import handlers
from ocpi_gateway.commands.executor import CommandExecutor
from ocpi_gateway.commands.records import CommandRepository
from ocpi_gateway.commands.results import ResultSender
from ocpi_gateway.commands.service import CommandService
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.ocpp_wiring import CHARGER_COMMANDS, CHARGERS, TOKEN_AUTHORIZER
from ocpi_gateway.reservations.candidates import CatalogCandidates
from ocpi_gateway.reservations.extension import (
    POLICY_ENGINE,
    RESERVATIONS,
    whole_charger_capable,
)
from ocpi_gateway.reservations.reservation_only import ReservationOnlyAuthorizer
from ocpi_gateway.sessions.extension import RESERVATION_SESSIONS, SESSIONS
from ocpi_gateway.tokens.handlers import TOKENS

MODULE = OcpiModule("commands", InterfaceRole.RECEIVER, handlers.add_routes)

__all__ = ["MODULE", "SESSIONS", "install"]


def _walk_in_refused(app: web.Application) -> Callable[[str, str], Awaitable[bool]] | None:
    authorizer = app.get(TOKEN_AUTHORIZER)
    return authorizer.refuses if isinstance(authorizer, ReservationOnlyAuthorizer) else None


def install(app: web.Application, settings: GatewaySettings) -> None:
    app[keys.MODULES].add(MODULE)
    instance_id = settings.instance_id or "gw"

    async def commands_ctx(app: web.Application) -> AsyncIterator[None]:
        store = app[keys.STORE]
        sessions = app[SESSIONS]

        executor = CommandExecutor(
            catalog=lambda: app[LOCATIONS].catalog,
            reservations=app[RESERVATIONS],
            start_engine=app[POLICY_ENGINE],
            start_candidates=CatalogCandidates(lambda: app[LOCATIONS].catalog,
                                               whole_charger_capable(app[CHARGERS]),
                                               every_evse_counts=True),
            chargers=app[CHARGER_COMMANDS], sessions=sessions,
            reservation_sessions=app[RESERVATION_SESSIONS], tokens=app[TOKENS],
            charger_timeout=settings.command_timeouts.charger_seconds,
            allow_private_response_urls=settings.allow_private_response_urls,
            clock=app[keys.CLOCK], walk_in_refused=_walk_in_refused(app))
        service = CommandService(
            executor=executor, records=CommandRepository(store),
            results=ResultSender(app[OUTBOX]), reservations=app[RESERVATIONS],
            partners=app[keys.PARTNERS].get, store_contacts=store,
            timeout_seconds=settings.command_timeouts.ocpi_result_seconds,
            forget_command_tokens=lambda: app[TOKENS].forget_expired_command_tokens(
                app[keys.CLOCK]()),
            instance_id=instance_id, loops=app[keys.LOOPS])
        app[handlers.COMMAND_SERVICE] = service
        await service.start()
        yield
        await service.stop()

    async def stop_commands(app: web.Application) -> None:
        # Once the server shuts down, aiohttp reads nothing more from any connection, the
        # chargers' websockets included, and the OCPP server then closes them: a command
        # waiting for a charger would end as 'offline' and be reported as if the charger
        # failed. Stopped first, it stays PENDING and the next start's sweeper settles it
        # (ACCEPTED when the reservation did become active, else TIMEOUT).
        service = app.get(handlers.COMMAND_SERVICE)
        if service is not None:
            await service.stop()

    app.cleanup_ctx.append(commands_ctx)
    app.on_shutdown.insert(0, stop_commands)  # before the OCPP server's own on_shutdown
