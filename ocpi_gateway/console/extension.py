"""Gateway extension: the console (``/console``) and its live feed.

Listed after the admin extension: the console's data comes from the admin API, its feed
listens to what the locations publisher, the reservation service and the booking ledger
announce (each built at startup by an earlier extension).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ocpi_gateway.bookings.context import BOOKINGS
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.console import pages
from ocpi_gateway.console.changes import booking_change, evse_change, reservation_change
from ocpi_gateway.console.events import FEED
from ocpi_gateway.console.feed import Feed, LocalFeed
from ocpi_gateway.console.feed_redis import RedisFeed
from ocpi_gateway.domain.events import BookingTransitioned
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.ocpp_wiring import OCPP_SERVER
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.reservations.extension import RESERVATIONS


def install(app: web.Application, settings: GatewaySettings) -> None:
    app.router.add_routes(pages.routes())

    async def console_ctx(app: web.Application) -> AsyncIterator[None]:
        ocpp = app.get(OCPP_SERVER)
        redis = ocpp.redis if ocpp is not None else None
        feed: Feed = RedisFeed(redis) if redis is not None else LocalFeed()
        await feed.start()
        app[FEED] = feed

        def on_status(location_id: str, evse_uid: str, status: EvseStatus, at: str) -> None:
            feed.publish(evse_change(location_id, evse_uid, status, at))

        async def on_reservation(r: Reservation, previous: ReservationState) -> None:
            feed.publish(reservation_change(r))

        async def on_booking(event: BookingTransitioned) -> None:
            feed.publish(booking_change(event))

        publisher = app[LOCATIONS].publisher if LOCATIONS in app else None
        if publisher is not None:
            publisher.status_listeners.append(on_status)
        if RESERVATIONS in app:
            app[RESERVATIONS].add_listener(on_reservation)
        if BOOKINGS in app:
            app[BOOKINGS].ledger.add_listener(on_booking)
        yield
        if publisher is not None:
            publisher.status_listeners.remove(on_status)
        await feed.stop()

    async def end_streams(app: web.Application) -> None:
        # Before the server waits for its handlers: an open page must not hold shutdown up.
        feed = app.get(FEED)
        if feed is not None:
            feed.hub.close_all()

    app.cleanup_ctx.append(console_ctx)
    app.on_shutdown.append(end_streams)
