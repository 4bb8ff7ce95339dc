"""Every booking transition the ledger stores is counted by the metrics listener, by the state
reached, and every request decided by its status."""

from __future__ import annotations

from structlog.testing import capture_logs

from ocpi_gateway import metrics
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.states import BookingState, RequestStatus
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity
from tests.bookings.binding import BindingSite
from tests.bookings.support import Clock, at, booking


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


async def test_the_binders_outcomes_are_counted(store: DocumentStore, clock: Clock) -> None:
    """``ocpi_booking_binds_total`` (the issue: count how often a booking finds every fitting
    EVSE occupied at its binding time) and the lateness of each binding, as the gateway
    wires the binder (``metrics.BookingBindMetrics``)."""
    site = await BindingSite(store, MemoryAvailability(clock=clock), MemoryCapacity(clock=clock),
                             clock).ready()
    gw = site.instance()
    gw.binder.observer = metrics.BookingBindMetrics()
    outcomes = ("bound", "occupied", "gave_up")
    before = {o: value("ocpi_booking_binds_total", outcome=o) for o in outcomes}
    late_before = value("ocpi_booking_bind_lateness_seconds_sum")
    try:
        first = await site.book(gw, "R1")
        await site.book(gw, "R2")
        for uid in ("E000", "E001"):
            await site.set_status(uid, EvseStatus.CHARGING)
        clock.now = at(590)
        await gw.run()  # both occupied
        await site.set_status("E001", EvseStatus.AVAILABLE)
        clock.now = at(600)
        await gw.run()  # R1 bound 10 minutes late, R2 occupied again
        clock.now = at(615)
        await gw.run()  # R2 given up
        after = {o: value("ocpi_booking_binds_total", outcome=o) for o in outcomes}
        assert {o: after[o] - before[o] for o in outcomes} == {
            "bound": 1, "occupied": 3, "gave_up": 1}
        assert value("ocpi_booking_bind_lateness_seconds_sum") - late_before == 600.0
        assert (await site.booking(first.key)).bound
    finally:
        await site.close()


async def test_every_transition_is_logged_with_the_ids(store: DocumentStore,
                                                       clock: Clock) -> None:
    ledger = BookingLedger(store, clock=clock)
    with capture_logs() as logs:
        created = await ledger.create(booking())
        assert created is not None
        reserved = await ledger.transition(created, BookingState.RESERVED, reason="admitted",
                                           decide=RequestStatus.ACCEPTED)
        assert reserved is not None
        bound = await ledger.transition(reserved, BookingState.RESERVED, reason="bound",
                                        evse_uid="E001", charge_point_id="CP001",
                                        ocpp_reservation_id=7)
        assert bound is not None
        await ledger.transition(bound, BookingState.NO_SHOW, reason="no_show")
    seen = [e for e in logs if e["event"] == "booking_transition"]
    assert [(e["from_"], e["to"], e["reason"]) for e in seen] == [
        (None, "PENDING", "created"), ("PENDING", "RESERVED", "admitted"),
        ("RESERVED", "RESERVED", "bound"), ("RESERVED", "NO_SHOW", "no_show")]
    assert seen[1]["request_status"] == "ACCEPTED"
    for entry in seen:
        assert (entry["booking_key"], entry["booking_id"], entry["request_id"],
                entry["location_id"]) == (created.key, created.id, "R1", "LOC1")
    assert (seen[-1]["evse_uid"], seen[-1]["charge_point_id"],
            seen[-1]["ocpp_reservation_id"]) == ("E001", "CP001", 7)
