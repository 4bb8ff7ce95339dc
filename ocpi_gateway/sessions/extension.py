"""Gateway extension: the Sessions SENDER module (both versions), the session tracker fed by
the chargers' events and the reservations' transitions, and the pushes to the eMSPs.

Leaves ``app[SESSIONS]`` (the ``SessionTracker``, from startup on) and
``app[RESERVATION_SESSIONS]``. Needs the Locations, Tariffs, Tokens and reservations
extensions (and the outbox) listed before it; the Commands module after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.domain.events import DomainEvent
from ocpi_gateway.domain.loops import BackgroundLoop
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.reservations.extension import POLICY, RESERVATIONS
from ocpi_gateway.sessions.holds import ReservationSessions
from ocpi_gateway.sessions.models import SessionToken
from ocpi_gateway.sessions.places import Places
from ocpi_gateway.sessions.publisher import SessionsPublisher
from ocpi_gateway.sessions.repository import SessionRepository
from ocpi_gateway.sessions.sender import add_routes_for
from ocpi_gateway.sessions.tracker import SessionTracker
from ocpi_gateway.tariffs.extension import TARIFFS
from ocpi_gateway.tokens.handlers import TOKENS

log = structlog.get_logger(__name__)

SESSIONS: web.AppKey[SessionTracker] = web.AppKey("sessions", SessionTracker)
RESERVATION_SESSIONS: web.AppKey[ReservationSessions] = web.AppKey(
    "reservation_sessions", ReservationSessions)
SESSIONS_PUBLISHER: web.AppKey[SessionsPublisher] = web.AppKey(
    "sessions_publisher", SessionsPublisher)

SWEEP_INTERVAL = 30.0
"""Seconds between sweeps of sessions no event will end (see ``SessionTracker.sweep``)."""


def install(app: web.Application, settings: GatewaySettings) -> None:
    clock = app[keys.CLOCK]

    def repo() -> SessionRepository:
        return app[SESSIONS].repo

    app[keys.MODULES].add(OcpiModule("sessions", InterfaceRole.SENDER,
                                     add_routes_for(repo, clock, settings.public_url)))

    async def on_event(event: DomainEvent) -> None:
        tracker = app.get(SESSIONS)
        if tracker is not None:
            await tracker.on_event(event)

    # After the reservations' subscriber (listed before): a transaction is seen by the
    # reservation service first, though the tracker does not rely on it.
    app[keys.EVENT_BUS].subscribe(on_event)

    async def sessions_ctx(app: web.Application) -> AsyncIterator[None]:
        store = app[keys.STORE]
        tokens = app[TOKENS]

        async def token_owners(id_token: str) -> list[SessionToken]:
            found = await tokens.find_by_presented_id(id_token)
            found.sort(key=lambda t: not t.valid)  # a valid one first
            return [SessionToken(country_code=t.country_code, party_id=t.party_id,
                                 uid=t.uid, type=str(t.type), contract_id=t.contract_id)
                    for t in found]

        places = Places(lambda: app[LOCATIONS].catalog, lambda: app[TARIFFS].catalog)
        session_repo = SessionRepository(store)
        tracker = SessionTracker(session_repo, places, token_owners=token_owners,
                                 clock=clock)
        publisher = SessionsPublisher(session_repo, registered=app[keys.PARTNERS].registered_now,
                                      clock=clock)
        publisher.attach(app[OUTBOX])
        tracker.add_listener(publisher.on_change)
        policy = app[POLICY]
        holds = ReservationSessions(tracker, lambda location_id, partner: policy.effective(
            location_id, partner).free_cancellation_minutes)
        app[RESERVATIONS].add_listener(holds.on_transition)
        app[SESSIONS], app[RESERVATION_SESSIONS] = tracker, holds
        app[SESSIONS_PUBLISHER] = publisher
        async def sweep() -> None:
            ended = await tracker.sweep()
            if ended:
                log.info("sessions_swept", ended=ended)

        sweeper = BackgroundLoop("sessions-sweep", sweep, interval=SWEEP_INTERVAL,
                                 registry=app[keys.LOOPS], run_at_start=False)
        sweeper.start()
        yield
        await sweeper.stop()

    app.cleanup_ctx.append(sessions_ctx)

