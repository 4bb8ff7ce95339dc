"""When charger events count as the reservation being used (charger_events.py), and when a
replacement keeps its EVSE (replacement.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ocpi_gateway.domain.events import (
    ConnectorStatus,
    ConnectorStatusChanged,
    TokenPresented,
    TransactionStarted,
)
from ocpi_gateway.reservation_policy.lifecycle import ReserveOutcome
from ocpi_gateway.reservation_policy.models import ReservationRequest
from ocpi_gateway.reservation_policy.records import ReservationState
from tests.policy.support import CCS, evse, grid
from tests.policy.world import EMSP, ManualClock, World

TOKEN = "04A1B2C3D4"


async def _state(w: World) -> ReservationState:
    r = await w.service.get(EMSP, "R1")
    assert r is not None
    return r.state


def _released(evse_id: int, connector_id: int = 1) -> ConnectorStatusChanged:
    return ConnectorStatusChanged(charge_point_id="CP000", evse_id=evse_id,
                                  connector_id=connector_id, status=ConnectorStatus.AVAILABLE)


async def test_a_release_more_than_120_s_after_the_token_is_no_use() -> None:
    clock = ManualClock()
    w = await World(grid(2), clock=clock).ready()
    await w.reserve(evse_uid="E000")
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token=TOKEN))
    clock.advance(121)
    await w.service.handle_event(_released(1))
    # The connector left Reserved long after the driver showed the card: an expiry or a
    # cancel at the charger, not a use.
    assert await _state(w) is ReservationState.ACTIVE


async def test_a_release_within_120_s_of_the_token_uses_the_reservation() -> None:
    clock = ManualClock()
    w = await World(grid(2), clock=clock).ready()
    await w.reserve(evse_uid="E000")
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token=TOKEN))
    clock.advance(120)
    await w.service.handle_event(_released(1))
    assert await _state(w) is ReservationState.USED
    assert await w.holders() == {}


async def test_a_token_presented_again_restarts_the_window() -> None:
    clock = ManualClock()
    w = await World(grid(2), clock=clock).ready()
    await w.reserve(evse_uid="E000")
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token=TOKEN))
    clock.advance(100)
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token=TOKEN))
    clock.advance(100)
    await w.service.handle_event(_released(1))
    assert await _state(w) is ReservationState.USED


async def test_another_token_presented_120_s_later_does_not_end_the_window() -> None:
    clock = ManualClock()
    w = await World(grid(2), clock=clock).ready()
    await w.reserve(evse_uid="E000")
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token=TOKEN))
    clock.advance(120)
    # Presentations forget windows that are over; this one is not yet.
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token="04FFFF"))
    await w.service.handle_event(_released(1))
    assert await _state(w) is ReservationState.USED


async def test_a_transaction_with_the_reservation_id_uses_it_whatever_the_id_tag() -> None:
    # 1.6 StartTransaction / 2.0.1 TransactionEvent carry the reservation id the charger
    # consumed; the idTag may be another of the driver's group (parentIdTag).
    w = await World(grid(2)).ready()
    made = await w.reserve(evse_uid="E000")
    await w.service.handle_event(TransactionStarted(
        charge_point_id="CP000", transaction_id="T1", evse_id=1, connector_id=1,
        id_token="GROUP-MEMBER", reservation_id=made.ocpp_reservation_id))
    assert await _state(w) is ReservationState.USED
    await w.service.drain()
    assert w.chargers.cancels() == []  # used where it was: nothing to withdraw
    assert ("R1", ReservationState.ACTIVE, ReservationState.USED) in w.seen


async def test_a_replacement_that_no_longer_fits_the_evse_moves_the_reservation() -> None:
    cands = [evse("AC", "CP000", evse_id=1), evse("DC", "CP000", evse_id=2, connectors=(CCS,))]
    w = await World(cands).ready()
    first = await w.reserve()
    assert first.evse_uid == "AC"
    # Same reservation id, now for a CCS connector: the AC EVSE cannot serve it any more.
    request = ReservationRequest("LOC1", None, EMSP, TOKEN, w.clock() + timedelta(minutes=30),
                                 connector_standard="IEC_62196_T2_COMBO")
    second = await w.service.reserve(request, "R1", time_budget=2.0)
    assert second.outcome is ReserveOutcome.ACCEPTED and second.evse_uid == "DC"
    await w.service.drain()
    assert await w.holders() == {"DC": "NL-EXA/R1"}
    assert [c.reservation_id for c in w.chargers.cancels()] == [first.ocpp_reservation_id]


@pytest.mark.parametrize(("evse_id", "connector_id", "cancelled"), [
    (None, 1, False),  # on the reserved connector: nothing left to withdraw
    (None, 2, True),   # the driver took the other connector: withdraw the reserved one
    (None, None, False),  # the charger did not say where: assume the reserved one
])
async def test_a_transaction_with_the_token_on_a_16_charger(
        evse_id: int | None, connector_id: int | None, cancelled: bool) -> None:
    cands = [evse("C1", "CP16", evse_id=None, connector_id=1),
             evse("C2", "CP16", evse_id=None, connector_id=2)]
    w = await World(cands).ready()
    made = await w.reserve(evse_uid="C1")
    await w.service.handle_event(TransactionStarted(
        charge_point_id="CP16", transaction_id="T1", evse_id=evse_id,
        connector_id=connector_id, id_token=TOKEN))
    assert await _state(w) is ReservationState.USED
    await w.service.drain()
    withdrawn = [c.reservation_id for c in w.chargers.cancels()]
    assert withdrawn == ([made.ocpp_reservation_id] if cancelled else [])


async def test_a_transaction_with_the_token_on_the_reserved_201_evse_withdraws_nothing(
) -> None:
    w = await World(grid(2)).ready()
    await w.reserve(evse_uid="E000")
    await w.service.handle_event(TransactionStarted(
        charge_point_id="CP000", transaction_id="T1", evse_id=1, connector_id=1,
        id_token=TOKEN))
    assert await _state(w) is ReservationState.USED
    await w.service.drain()
    assert w.chargers.cancels() == []


@pytest.mark.parametrize("ocpp16", [True, False])
async def test_a_release_uses_only_the_presented_reservation_on_that_connector(
        ocpp16: bool) -> None:
    # Two reservations on one charger: 1.6 connectors 1 and 2, or 2.0.1 EVSEs 1 and 2.
    cands = ([evse("E1", "CP000", evse_id=None, connector_id=1),
              evse("E2", "CP000", evse_id=None, connector_id=2)] if ocpp16 else grid(2))
    w = await World(cands).ready()
    first = await w.reserve("R1", evse_uid=cands[0].evse_uid, token="04AAAAAAAA")
    second = await w.reserve("R2", evse_uid=cands[1].evse_uid, token="04BBBBBBBB")
    assert first.outcome is second.outcome is ReserveOutcome.ACCEPTED

    async def released(n: int) -> None:
        await w.service.handle_event(ConnectorStatusChanged(
            charge_point_id="CP000", evse_id=None if ocpp16 else n,
            connector_id=n if ocpp16 else 1, status=ConnectorStatus.AVAILABLE))

    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token="04BBBBBBBB"))
    await released(1)  # R1's connector: R2's token does not use R2 there
    states = {rid: r.state for rid in ("R1", "R2")
              if (r := await w.service.get(EMSP, rid)) is not None}
    assert states == {"R1": ReservationState.ACTIVE, "R2": ReservationState.ACTIVE}
    await released(2)
    used = await w.service.get(EMSP, "R2")
    assert used is not None and used.state is ReservationState.USED
    await w.service.drain()
    assert w.chargers.cancels() == []  # used where it was reserved: nothing to withdraw


async def test_a_transaction_with_a_token_uses_that_token_s_reservation_among_others() -> None:
    w = await World(grid(2)).ready()
    assert (await w.reserve("R1", evse_uid="E000", token="04AAAAAAAA")).outcome \
        is ReserveOutcome.ACCEPTED
    assert (await w.reserve("R2", evse_uid="E001", token="04BBBBBBBB")).outcome \
        is ReserveOutcome.ACCEPTED
    listed = await w.service.repo.live(charge_point_id="CP000")
    assert [r.reservation_id for r in listed] == ["R1", "R2"]  # the other token's first
    await w.service.handle_event(TransactionStarted(
        charge_point_id="CP000", transaction_id="T1", evse_id=2, connector_id=1,
        id_token="04bbbbbbbb"))
    states = {rid: r.state for rid in ("R1", "R2")
              if (r := await w.service.get(EMSP, rid)) is not None}
    assert states == {"R1": ReservationState.ACTIVE, "R2": ReservationState.USED}
