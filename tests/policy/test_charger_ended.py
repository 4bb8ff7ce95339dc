"""A charger that ends a reservation on its own, as 1.6 shows it: the connector goes Reserved →
Available with no transaction. Near the expiry it expired; earlier it was removed, and is
re-routed. And a re-route keeps an EVSE-specific reservation on single EVSEs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.charger_events import ended_by_charger
from ocpi_gateway.reservation_policy.lifecycle import ReserveOutcome
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from tests.policy.support import NOW, evse
from tests.policy.world import EMSP, ManualClock, World

CONNECTORS_16 = [evse("E1", "CP16", evse_id=None, connector_id=1),
                 evse("E2", "CP16", evse_id=None, connector_id=2)]


async def status(w: World, connector: int, value: ConnectorStatus) -> None:
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP16", evse_id=None, connector_id=connector, status=value))
    await w.service.drain()


async def reserved_on_e1(w: World, minutes: float = 30) -> Reservation:
    made = await w.reserve(evse_uid="E1", minutes=minutes)
    assert made.outcome is ReserveOutcome.ACCEPTED and made.reservation is not None
    await status(w, 1, ConnectorStatus.RESERVED)
    return made.reservation


async def current(w: World) -> Reservation:
    r = await w.service.get(EMSP, "R1")
    assert r is not None
    return r


async def test_reserved_then_available_long_before_expiry_is_rerouted() -> None:
    w = await World(CONNECTORS_16).ready()
    await reserved_on_e1(w)
    await status(w, 1, ConnectorStatus.AVAILABLE)
    moved = await current(w)
    assert moved.state is ReservationState.REROUTED and moved.evse_uid == "E2"
    assert await w.holders() == {"E2": "NL-EXA/R1"}  # E1 is free: published as it is
    assert w.chargers.cancels() == []  # the charger ended it itself: nothing to cancel


async def test_reserved_then_available_at_the_expiry_is_expired() -> None:
    w = await World(CONNECTORS_16).ready()
    made = await reserved_on_e1(w)
    # The charger's clock says the reservation is over a little before ours does.
    at_expiry = made.expiry - timedelta(seconds=20)

    def clock() -> datetime:
        return at_expiry

    w.service.clock = clock
    await status(w, 1, ConnectorStatus.AVAILABLE)
    assert (await current(w)).state is ReservationState.EXPIRED
    assert await w.holders() == {}
    assert len(w.chargers.reserve_nows()) == 1  # not re-routed
    assert ("R1", ReservationState.ACTIVE, ReservationState.EXPIRED) in w.seen


async def test_available_without_reserved_before_it_changes_nothing() -> None:
    # A charger that never showed Reserved here (or a whole-charger reservation) tells
    # nothing by showing Available.
    w = await World(CONNECTORS_16).ready()
    await w.reserve(evse_uid="E1")
    await status(w, 1, ConnectorStatus.AVAILABLE)
    assert (await current(w)).state is ReservationState.ACTIVE
    assert await w.holders() == {"E1": "NL-EXA/R1"}


async def test_reserved_then_preparing_is_the_driver_not_the_end() -> None:
    w = await World(CONNECTORS_16).ready()
    await reserved_on_e1(w)
    await status(w, 1, ConnectorStatus.PREPARING)
    assert (await current(w)).state is ReservationState.ACTIVE


async def test_reroute_of_an_evse_specific_reservation_names_an_evse() -> None:
    # Two EVSEs on a charger that could be reserved as a whole, and the policy allows it: a
    # location-level request would go to the whole charger, but this one named W1.
    cands = [evse("W1", "CPW", evse_id=None, connector_id=1, whole=True),
             evse("W2", "CPW", evse_id=None, connector_id=2, whole=True)]
    w = await World(cands, allow_whole_charger=True).ready()
    made = await w.reserve(evse_uid="W1")
    assert made.reservation is not None and not made.reservation.whole_charger
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CPW", evse_id=None, connector_id=1, status=ConnectorStatus.FAULTED))
    await w.service.drain()
    moved = await current(w)
    assert moved.state is ReservationState.REROUTED and not moved.whole_charger
    sent = w.chargers.reserve_nows()[-1]
    assert (sent.evse_id, sent.connector_id) == (None, 2)


@pytest.mark.parametrize(("before_expiry", "ends"), [
    (60.0, ReservationState.EXPIRED),  # within the slack for the charger's clock: expired
    (60.5, ReservationState.REROUTED),  # earlier: removed there, and moved
])
async def test_the_chargers_clock_is_given_60_s(before_expiry: float,
                                               ends: ReservationState) -> None:
    clock = ManualClock()
    w = await World(CONNECTORS_16, clock=clock).ready()
    made = await reserved_on_e1(w)
    clock.now = made.expiry - timedelta(seconds=before_expiry)
    await status(w, 1, ConnectorStatus.AVAILABLE)
    assert (await current(w)).state is ends


EVSES_201 = [evse("E1", "CP16", evse_id=1), evse("E2", "CP16", evse_id=2)]


@pytest.mark.parametrize("ocpp16", [True, False])
async def test_the_other_connector_going_available_leaves_the_reserved_one_watched(
        ocpp16: bool) -> None:
    # 1.6 names connectors (1, 2), 2.0.1 names EVSEs (1, 2) and their connector (1).
    w = await World(CONNECTORS_16 if ocpp16 else EVSES_201).ready()

    async def shows(n: int, value: ConnectorStatus) -> None:
        await w.service.handle_event(ConnectorStatusChanged(
            charge_point_id="CP16", evse_id=None if ocpp16 else n,
            connector_id=n if ocpp16 else 1, status=value))
        await w.service.drain()

    assert (await w.reserve(evse_uid="E1")).outcome is ReserveOutcome.ACCEPTED
    await shows(1, ConnectorStatus.RESERVED)
    await shows(2, ConnectorStatus.AVAILABLE)  # a driver left the other one
    assert (await current(w)).state is ReservationState.ACTIVE
    await shows(1, ConnectorStatus.AVAILABLE)  # then the charger ends the reservation
    moved = await current(w)
    assert moved.state is ReservationState.REROUTED and moved.evse_uid == "E2"


async def test_only_the_change_straight_from_reserved_to_available_is_the_chargers_end(
        ) -> None:
    w = await World(CONNECTORS_16).ready()
    await reserved_on_e1(w)
    await status(w, 1, ConnectorStatus.PREPARING)  # it left Reserved for something else
    await status(w, 1, ConnectorStatus.AVAILABLE)
    r = await current(w)
    assert r.state is ReservationState.ACTIVE and r.evse_uid == "E1"


async def test_the_charger_s_end_of_a_reservation_that_changed_meanwhile_answers_the_record(
        ) -> None:
    w = await World(CONNECTORS_16).ready()
    seen = await reserved_on_e1(w)
    await w.service.cancel(EMSP, "R1")
    ended = await current(w)
    # The event about the version seen before the cancel: the record as it is now.
    assert await ended_by_charger(w.service, seen) == ended
    assert (await current(w)) == ended


async def test_a_charger_s_end_with_no_other_evse_to_hold_says_why_without_answers() -> None:
    w = await World(CONNECTORS_16).ready()
    await reserved_on_e1(w)
    await w.avail.set_status("LOC1", "E2", EvseStatus.CHARGING, NOW)
    await status(w, 1, ConnectorStatus.AVAILABLE)  # long before its expiry: re-routed
    removed = await current(w)
    assert removed.state is ReservationState.REMOVED
    # The plan (its snapshot still saw E2 free) had no charger to ask: the plan's own words.
    assert removed.history[-1]["reason"] == (
        "the charger released the reservation; no alternative: the free EVSEs were taken "
        "meanwhile")
