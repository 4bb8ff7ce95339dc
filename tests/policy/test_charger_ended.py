"""A charger that ends a reservation on its own, as 1.6 shows it: the connector goes Reserved →
Available with no transaction. Near the expiry it expired; earlier it was removed, and is
re-routed. And a re-route keeps an EVSE-specific reservation on single EVSEs."""

from __future__ import annotations

from datetime import datetime, timedelta

from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.reservation_policy.lifecycle import ReserveOutcome
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from tests.policy.support import evse
from tests.policy.world import EMSP, World

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
