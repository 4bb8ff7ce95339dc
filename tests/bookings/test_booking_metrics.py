"""Every booking transition the ledger stores is counted by the metrics listener, by the state
reached, and every request decided by its status."""

from __future__ import annotations

from ocpi_gateway import metrics
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.states import BookingState, RequestStatus
from tests.bookings.support import Clock, booking


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_transitions_and_decided_requests_are_counted(store: DocumentStore,
                                                            clock: Clock) -> None:
    ledger = BookingLedger(store, clock=clock)
    ledger.add_listener(metrics.booking_listener)
    before = {s: value("ocpi_bookings_total", state=s) for s in metrics.BOOKING_STATES}
    accepted = value("ocpi_booking_requests_total", status="ACCEPTED")
    created = await ledger.create(booking())
    assert created is not None
    reserved = await ledger.transition(created, BookingState.RESERVED, reason="admitted",
                                       decide=RequestStatus.ACCEPTED)
    assert reserved is not None
    await ledger.transition(reserved, BookingState.NO_SHOW, reason="no_show")
    after = {s: value("ocpi_bookings_total", state=s) for s in metrics.BOOKING_STATES}
    assert {s: after[s] - before[s] for s in after if after[s] != before[s]} == {
        "PENDING": 1, "RESERVED": 1, "NO_SHOW": 1}
    assert value("ocpi_booking_requests_total", status="ACCEPTED") == accepted + 1


def test_every_state_and_status_is_a_series_from_the_start() -> None:
    for state in metrics.BOOKING_STATES:
        assert metrics.REGISTRY.get_sample_value("ocpi_bookings_total", {"state": state}
                                                 ) is not None
    assert set(metrics.BOOKING_STATES) == {s.value for s in BookingState}
    assert set(metrics.BOOKING_REQUEST_STATUSES) == {
        s.value for s in RequestStatus} - {"PENDING"}
