"""Observers that record what ``ocpp_adapter`` and ``reservation_policy`` do without those
packages importing this one: domain-event listeners and a ChargerCommands wrapper."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ocpi_gateway.domain.charger_commands import ChargerCommand, ChargerCommands, CommandOutcome
from ocpi_gateway.domain.events import BookingTransitioned, ChargerConnected, DomainEvent
from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.metrics.recording import (
    enforcement_refused,
    no_show_recorded,
    observe_command_roundtrip,
    reservation_transition,
    token_ban_lifted,
    token_banned,
)
from ocpi_gateway.metrics.series import (
    BOOKING_REQUEST_STATUSES,
    BOOKING_STATES,
    ReservationOutcome,
    booking_bind_lateness,
    booking_binds,
    booking_requests,
    bookings,
    ocpp_connections,
    ocpp_connections_opened,
)

# --- adapters that record without touching other packages ------------------------------------
# ocpp_adapter and reservation_policy may import only `domain` (docs/architecture.md), so what
# they do is observed from here: domain events on the bus, and a wrapper around ChargerCommands.


async def connection_listener(event: DomainEvent) -> None:
    """An EventBus subscriber counting ``ocpp_connections_opened_total`` per version."""
    if isinstance(event, ChargerConnected):
        ocpp_connections_opened.labels(version=OcppVersion(event.ocpp_version).value).inc()


def watch_ocpp_connections(connected_versions: Callable[[], Iterable[OcppVersion | str]]
                           ) -> None:
    """Read ``ocpp_connections`` at each scrape from the versions of the sessions this
    instance holds (e.g. ``lambda: (s.version for s in ocpp_server.registry)``).

    Counting Connected/Disconnected events would drift: a charger taken over by another
    instance, or replaced by its own reconnect, leaves without a ChargerDisconnected here.
    """
    def counter(version: str) -> Callable[[], float]:
        def count() -> float:
            return float(sum(1 for v in connected_versions() if OcppVersion(v).value == version))
        return count

    for version in OcppVersion:
        ocpp_connections.labels(version=version.value).set_function(counter(version.value))


# Reservation states (reservation_policy.records.ReservationState values) a lifecycle listener
# is told about, and the outcome each one counts as. ACCEPTED and REFUSED are not transitions
# the listener hears of: the Commands module records them from the reserve result.
_STATE_OUTCOMES = {
    "USED": ReservationOutcome.USED,
    "EXPIRED": ReservationOutcome.EXPIRED,
    "CANCELLED": ReservationOutcome.CANCELLED,
    "REROUTED": ReservationOutcome.REROUTED,
    "REMOVED": ReservationOutcome.NO_ALTERNATIVE,
}


async def reservation_listener(reservation: Any, previous: Any) -> None:
    """A ``ReservationService.add_listener`` listener: counts used, expired, cancelled,
    re-routed and no-alternative transitions (typed loosely: only ``.state`` is read)."""
    outcome = _STATE_OUTCOMES.get(str(getattr(reservation.state, "value", reservation.state)))
    if outcome is not None:
        reservation_transition(outcome)


async def booking_listener(event: BookingTransitioned) -> None:
    """A ``BookingLedger.add_listener`` listener: one count per transition by the state
    reached, and one per request decided."""
    if event.state in BOOKING_STATES:
        bookings.labels(state=event.state).inc()
    if event.request_status in BOOKING_REQUEST_STATUSES:
        booking_requests.labels(status=event.request_status).inc()


class BookingBindMetrics:
    """The booking binder's observer (``bookings.binder.BindObserver``)."""

    def bound(self, booking: Any, late_seconds: float) -> None:
        booking_binds.labels(outcome="bound").inc()
        booking_bind_lateness.observe(late_seconds)

    def occupied(self, booking: Any) -> None:
        booking_binds.labels(outcome="occupied").inc()

    def gave_up(self, booking: Any) -> None:
        booking_binds.labels(outcome="gave_up").inc()


class EnforcementMetrics:
    """The enforcement service's observer (``enforcement.service.EnforcementObserver``):
    counts its refusals, no-shows and bans (typed loosely: only the enum fields are read)."""

    def refused(self, refusal: Any) -> None:
        enforcement_refused(str(getattr(refusal.reason, "value", refusal.reason)))

    def no_show(self, record: Any) -> None:
        no_show_recorded(str(getattr(record.kind, "value", record.kind)))

    def banned(self, ban: Any) -> None:
        token_banned(str(getattr(ban.source, "value", ban.source)))

    def lifted(self, ban: Any) -> None:
        token_ban_lifted()


class TimedChargerCommands:
    """A ChargerCommands that records each command's round trip, then delegates."""

    def __init__(self, inner: ChargerCommands) -> None:
        self._inner = inner

    # The parameter name is the ChargerCommands protocol's.
    async def execute(self, command: ChargerCommand, timeout: float) -> CommandOutcome:  # noqa: ASYNC109
        started = time.perf_counter()
        outcome = await self._inner.execute(command, timeout)
        # The domain command's class name (ReserveNow, RemoteStart, ...): the OCPP action's name
        # differs between 1.6 and 2.0.1 for the remote start/stop pair.
        observe_command_roundtrip(type(command).__name__, outcome, time.perf_counter() - started)
        return outcome

    async def is_online(self, charge_point_id: str) -> bool:
        return await self._inner.is_online(charge_point_id)



