"""Gateway extension: the OCPI 2.3.0 Bookings module (SENDER, listed for 2.3.0 only) over the
booking records, the policy's booking terms and the capacity timeline the RESERVE_NOW gate
owns (``app[POLICY_ENGINE].capacity``: one owner of each site's supply).

Leaves ``app[BOOKINGS]`` (``Bookings``) and ``app[BOOKINGS_PUBLISHER]``. The late-binding
scheduler (``BookingBinder``, the ``bookings-bind`` loop) binds bookings through the
reservation service (``app[RESERVATIONS]``) and follows their ends from its listeners. Needs
the outbox, Locations and Reservations extensions listed before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import tzinfo

import structlog
from aiohttp import web

from ocpi_gateway import keys, metrics
from ocpi_gateway.bookings.calendars import SiteChanges, site_zone
from ocpi_gateway.bookings.context import BOOKINGS, Bookings
from ocpi_gateway.bookings.ongoing import ongoing_sessions
from ocpi_gateway.bookings.publisher import BookingsPublisher, bookings_receivers
from ocpi_gateway.bookings.sender import add_routes_for
from ocpi_gateway.config import ConfigError, GatewaySettings
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.domain.authorization import AcceptAllAuthorizer
from ocpi_gateway.domain.events import (
    AvailabilityChanged,
    ChargerConnected,
    ConnectorStatusChanged,
    DomainEvent,
)
from ocpi_gateway.domain.loops import BackgroundLoop
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.ocpp_wiring import TOKEN_AUTHORIZER
from ocpi_gateway.reservation_policy.bookings.binder import BookingBinder
from ocpi_gateway.reservation_policy.bookings.fulfilment import BookingUse
from ocpi_gateway.reservation_policy.bookings.intake import BookingIntake
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.sessions import SessionWatch
from ocpi_gateway.reservation_policy.bookings.sweeper import BookingSweeper
from ocpi_gateway.reservation_policy.bookings.waitlist import WaitingList
from ocpi_gateway.reservation_policy.capacity.spare_cache import SpareCache
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.reservations.extension import (
    ENFORCEMENT,
    POLICY,
    POLICY_ENGINE,
    RESERVATIONS,
)
from ocpi_gateway.reservations.reservation_only import ReservationOnlyAuthorizer
from ocpi_gateway.sessions.extension import SESSIONS

log = structlog.get_logger(__name__)

BOOKINGS_PUBLISHER: web.AppKey[BookingsPublisher] = web.AppKey("bookings_publisher",
                                                                BookingsPublisher)
SWEEP_SECONDS = 15.0
WELCOME_SECONDS = 2.0
"""How often to look for receivers registered since (they get every BookingLocation)."""
BIND_SECONDS = 5.0
"""How often the binder looks for bookings due: a booking is bound at most this late."""


class _PolicyWatch:
    """A policy reload changes every site's calendars: seen as a new PolicyFile object. The
    object seen is kept, not its id: once freed, a later PolicyFile may get its address."""

    def __init__(self, publisher: BookingsPublisher, current: object) -> None:
        self._publisher = publisher
        self._seen = current

    def check(self, current: object) -> None:
        if current is not self._seen:
            self._seen = current
            log.info("bookings_policy_changed")
            self._publisher.all_changed()


class _ReloadHook:
    """Locations (and the files reloaded with them) changed: every site again."""

    name = "bookings"

    def __init__(self, publisher: BookingsPublisher) -> None:
        self._publisher = publisher

    async def prepare(self) -> None:
        return None

    def abandon(self) -> None:
        return None

    async def commit(self) -> list[str]:
        self._publisher.all_changed()
        return []


def install(app: web.Application, settings: GatewaySettings) -> None:
    engine = app[POLICY_ENGINE]
    if engine.capacity is None:
        raise ConfigError("the Bookings module needs the capacity timeline")
    capacity = engine.capacity
    policy = app[POLICY]
    locations = app[LOCATIONS]
    cpo = settings.cpo_roles[0]
    app[keys.MODULES].add(OcpiModule("bookings", InterfaceRole.SENDER,
                                     add_routes_for(settings.public_url),
                                     versions=("2.3.0",)))

    def zone(location_id: str) -> tzinfo:
        return site_zone(locations.catalog.get(location_id))

    def tariffs(location_id: str) -> tuple[str, ...]:
        location = locations.catalog.get(location_id)
        return tuple(dict.fromkeys(t for e in location.evses for c in e.connectors
                                   for t in c.tariff_ids or ())) if location else ()

    async def bookings_ctx(app: web.Application) -> AsyncIterator[None]:
        # The reservation service's own: one object per site for both, so that the capacity
        # gate and the engine's evaluation index know it by identity (two caches built equal
        # tuples, and every binding compared 100 EVSEs to tell them the same).
        candidates = app[RESERVATIONS].candidates
        clock = app[keys.CLOCK]
        service = BookingService(BookingLedger(app[keys.STORE], clock=clock), capacity,
                                 candidates, policy, clock=clock)
        waiting = WaitingList(service)
        bookings = Bookings(
            service=service, intake=BookingIntake(service, site_zone=zone, tariff_ids=tariffs,
                                                  admission=app[ENFORCEMENT]),
            waiting=waiting, sweeper=BookingSweeper(service, waiting),
            changes=SiteChanges(clock), catalog=lambda: locations.catalog,
            party=(cpo.country_code, cpo.party_id), spare=SpareCache(capacity.timeline))
        app[BOOKINGS] = bookings
        publisher = BookingsPublisher(bookings, app.get(OUTBOX),
                                      bookings_receivers(app[keys.PARTNERS].registered_now),
                                      store=app[keys.STORE])
        app[BOOKINGS_PUBLISHER] = publisher
        service.ledger.add_listener(metrics.booking_listener)
        # A booking ending NO_SHOW is a no-show of its tokens (and FULFILLED ends one).
        service.ledger.add_listener(app[ENFORCEMENT].on_booking)
        service.ledger.add_listener(publisher.on_transition)
        locations.reload_hooks.append(_ReloadHook(publisher))

        async def on_event(event: DomainEvent) -> None:
            if not isinstance(event, ConnectorStatusChanged | AvailabilityChanged):
                return
            for location_id, _ in locations.catalog.evses_of_charger(event.charge_point_id):
                if policy.bookings_possible(location_id):
                    # A fault shrinks what can be kept, an EVSE back in service frees some.
                    publisher.site_changed(location_id)
                    await waiting.grant(location_id)

        app[keys.EVENT_BUS].subscribe(on_event)
        # After the reservation service's subscriber (its extension is listed before): a
        # transaction that used a booking's binding has fulfilled it by the time this looks.
        use = BookingUse(service, lambda cp: [loc for loc, _ in
                                              locations.catalog.evses_of_charger(cp)])
        app[keys.EVENT_BUS].subscribe(use.on_event)
        # After BookingUse: a session that used a booking ends with the booking's promise.
        tracker = app.get(SESSIONS)
        sessions = SessionWatch(service, use.sites, ongoing=None if tracker is None
                                else ongoing_sessions(tracker.repo))
        app[keys.EVENT_BUS].subscribe(sessions.on_event)
        capacity.add_stored_promises(sessions.stored)

        async def on_reservation(r: Reservation, previous: ReservationState) -> None:
            if policy.bookings_possible(r.location_id):
                publisher.site_changed(r.location_id)
                if not r.live:
                    await waiting.grant(r.location_id)

        reservations = app.get(RESERVATIONS)
        binder_loop: BackgroundLoop | None = None
        if reservations is not None:
            reservations.add_listener(on_reservation)
            # After the Tokens module's: at a reservation_only site it refuses walk-ins.
            app[TOKEN_AUTHORIZER] = ReservationOnlyAuthorizer(
                app.get(TOKEN_AUTHORIZER) or AcceptAllAuthorizer(),
                reservation_only=policy.reservation_only,
                locations_of=lambda cp: list(dict.fromkeys(
                    loc for loc, _ in locations.catalog.evses_of_charger(cp))),
                reservations=reservations.live_at_location, bookings=service.ledger.near,
                clock=clock)
            binder = BookingBinder(service, reservations,
                                   time_budget=settings.command_timeouts.charger_seconds * 2,
                                   observer=metrics.BookingBindMetrics())
            capacity.set_booked_promises(binder.booked_promise)
            reservations.add_listener(binder.on_reservation)
            service.ledger.add_listener(binder.on_booking)
            binder.sessions = sessions
            bookings.binder = binder

            async def on_connected(event: DomainEvent) -> None:
                # The charger is this instance's now (a reconnection, or taken over from
                # another instance): its transactions in progress are tracked here. In the
                # charger's order: before the end of a transaction it reports next.
                if isinstance(event, ChargerConnected):
                    await sessions.adopt(binder.free_now, event.charge_point_id)

            app[keys.EVENT_BUS].subscribe(on_connected)
            # Before the chargers can connect: the cars charging across a restart (or a
            # crash) are on the timeline again before any booking is admitted.
            try:
                await sessions.adopt(binder.free_now)
            except Exception:
                log.exception("sessions_adopt_failed")
            binder_loop = BackgroundLoop("bookings-bind", binder.run, interval=BIND_SECONDS,
                                         registry=app[keys.LOOPS], run_at_start=False)
        watch = _PolicyWatch(publisher, policy.current())

        async def sweep() -> None:
            watch.check(policy.current())
            await bookings.sweeper.sweep()

        sweeper = BackgroundLoop("bookings-sweep", sweep, interval=SWEEP_SECONDS,
                                 registry=app[keys.LOOPS], run_at_start=False)
        await publisher.know_receivers()
        welcome = BackgroundLoop("bookings-welcome", publisher.welcome_new_receivers,
                                 interval=WELCOME_SECONDS, registry=app[keys.LOOPS],
                                 run_at_start=False)
        sweeper.start()
        welcome.start()
        if binder_loop is not None:
            binder_loop.start()
        yield
        if binder_loop is not None:
            await binder_loop.stop()
        await welcome.stop()
        await sweeper.stop()
        await publisher.stop()

    app.cleanup_ctx.append(bookings_ctx)
