"""Re-routes (charger_events.py): a fault of the whole charger moves its reservations off that
charger, the cancel at the faulted charger is bounded, a re-route or a charger's release that
comes after the reservation changed leaves it alone, and ``reroute`` answers the moved
reservation."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from ocpi_gateway.domain.charger_commands import CancelReservation, CommandOutcome
from ocpi_gateway.domain.events import (
    AvailabilityChanged,
    ConnectorStatus,
    ConnectorStatusChanged,
)
from ocpi_gateway.reservation_policy.attempts import new_record
from ocpi_gateway.reservation_policy.lifecycle import ReserveOutcome
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from tests.policy.support import evse, grid
from tests.policy.world import EMSP, World

# Two connectors of a 1.6 charger, and one EVSE of another charger.
SITE_16 = [evse("E1", "CP16", evse_id=None, connector_id=1),
           evse("E2", "CP16", evse_id=None, connector_id=2),
           evse("E3", "CPX", evse_id=None, connector_id=1)]


async def stored(w: World) -> Reservation:
    r = await w.service.get(EMSP, "R1")
    assert r is not None
    return r


async def test_a_fault_of_the_whole_16_charger_moves_the_reservation_off_it() -> None:
    w = await World(SITE_16).ready()
    assert (await w.reserve(evse_uid="E1")).outcome is ReserveOutcome.ACCEPTED
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP16", evse_id=None, connector_id=0, status=ConnectorStatus.FAULTED))
    await w.service.drain()
    moved = await stored(w)
    assert moved.state is ReservationState.REROUTED
    assert (moved.evse_uid, moved.charge_point_id) == ("E3", "CPX")


async def test_the_cancel_at_a_faulted_charger_waits_at_most_5_s() -> None:
    w = await World(SITE_16).ready()
    w.service = w.new_service(charger_timeout=30.0)
    assert (await w.reserve(evse_uid="E1")).outcome is ReserveOutcome.ACCEPTED
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP16", evse_id=None, connector_id=1, status=ConnectorStatus.FAULTED))
    await w.service.drain()
    assert (await stored(w)).evse_uid != "E1"
    assert [wait for command, wait in zip(w.chargers.sent, w.chargers.waits, strict=True)
            if isinstance(command, CancelReservation)] == [5.0]


@pytest.mark.parametrize("event", ["fault", "released by the charger"])
async def test_an_event_about_the_evse_a_replacement_just_left_leaves_it_alone(
        event: str) -> None:
    w = await World(grid(4)).ready()
    w.service = w.new_service(charger_timeout=30.0)  # the replacement waits for the event
    made = await w.reserve()
    assert made.evse_uid == "E000"

    async def shows(status: ConnectorStatus) -> None:
        await w.service.handle_event(ConnectorStatusChanged(
            charge_point_id="CP000", evse_id=1, connector_id=1, status=status))

    await shows(ConnectorStatus.RESERVED)
    # The eMSP moves the reservation to E003; the new charger's answer is still awaited
    # (the replacement holds the reservation's lock) when E000 shows its change.
    w.chargers.answer_after = asyncio.Event()
    replacing = asyncio.create_task(w.reserve(evse_uid="E003"))
    for _ in range(1000):
        if len(w.chargers.reserve_nows()) == 2:
            break
        await asyncio.sleep(0.001)
    assert len(w.chargers.reserve_nows()) == 2
    await shows(ConnectorStatus.FAULTED if event == "fault" else ConnectorStatus.AVAILABLE)
    w.chargers.answer_after.set()
    assert (await replacing).outcome is ReserveOutcome.ACCEPTED
    await w.service.drain()
    r = await stored(w)
    assert (r.state, r.evse_uid) == (ReservationState.ACTIVE, "E003")
    assert len(w.chargers.reserve_nows()) == 2  # nothing was re-routed


async def test_reroute_answers_the_moved_reservation_and_leaves_a_stale_one() -> None:
    w = await World(grid(2)).ready()
    made = await w.reserve()
    assert made.reservation is not None and made.evse_uid == "E000"
    moved = await w.service.reroute(made.reservation, reason="operator",
                                    cancel_at_charger=False)
    assert moved is not None and moved == await stored(w)
    assert (moved.state, moved.evse_uid) == (ReservationState.REROUTED, "E001")
    # The record changed since ``made``: a re-route of that version does nothing.
    again = await w.service.reroute(made.reservation, reason="late", cancel_at_charger=False)
    assert again == moved


@pytest.mark.parametrize(("answer", "target_kept"), [
    (CommandOutcome.REJECTED, False),  # refused: nothing at that charger
    (CommandOutcome.TIMEOUT, True),  # silent: it may hold it, to be withdrawn
])
async def test_a_reroute_whose_alternative_fails_ends_it_keeping_only_a_silent_target(
        answer: CommandOutcome, target_kept: bool) -> None:
    w = await World(grid(2)).ready()
    assert (await w.reserve()).evse_uid == "E000"
    w.chargers.script[("CP000", 2, None)] = [answer]
    # The old reservation is cancelled at the faulted charger; a withdrawal of the silent
    # target finds its charger gone (so the record must keep it for later).
    w.chargers.cancel_answers = [CommandOutcome.ACCEPTED, CommandOutcome.OFFLINE]
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP000", evse_id=1, connector_id=1, status=ConnectorStatus.FAULTED))
    await w.service.drain()
    removed = await stored(w)
    assert removed.state is ReservationState.REMOVED
    assert (removed.attempt is not None) is target_kept
    # Why, from the alternative's answer.
    assert removed.history[-1]["reason"].endswith(f"no alternative: E001: {answer.value}")


async def test_a_16_connector_taken_out_of_service_moves_its_reservation_at_once() -> None:
    w = await World(SITE_16).ready()
    assert (await w.reserve(evse_uid="E1")).outcome is ReserveOutcome.ACCEPTED
    await w.service.handle_event(AvailabilityChanged(
        charge_point_id="CP16", evse_id=None, connector_id=2, operative=False))
    await w.service.handle_event(AvailabilityChanged(
        charge_point_id="CP16", evse_id=None, connector_id=1, operative=True))
    await w.service.drain()
    assert (await stored(w)).evse_uid == "E1"  # another connector, or back in service
    await w.service.handle_event(AvailabilityChanged(
        charge_point_id="CP16", evse_id=None, connector_id=1, operative=False))
    await w.service.drain()
    moved = await stored(w)
    assert moved.state is ReservationState.REROUTED and moved.evse_uid != "E1"


async def test_one_evse_s_fault_leaves_a_whole_charger_reservation_where_it_is() -> None:
    cands = [evse("W1", "CPW", evse_id=None, connector_id=1, whole=True),
             evse("W2", "CPW", evse_id=None, connector_id=2, whole=True)]
    w = await World(cands, allow_whole_charger=True).ready()
    result = await w.reserve()
    assert result.reservation is not None and result.reservation.whole_charger
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CPW", evse_id=None, connector_id=1, status=ConnectorStatus.FAULTED))
    await w.service.drain()
    kept = await stored(w)
    assert kept.state is ReservationState.ACTIVE and kept.whole_charger
    assert w.chargers.cancels() == []  # the charger keeps its other EVSE for the driver


async def test_a_fault_passes_over_a_pending_reservation_to_the_live_ones_after_it() -> None:
    w = await World(SITE_16).ready()
    # Stored first (listed first): a reservation still waiting for its ReserveNow there.
    pending = replace(new_record("NL-EXA/R0", "R0", w.request()), charge_point_id="CP16")
    assert await w.service.repo.start(pending, None) is not None
    assert (await w.reserve(evse_uid="E1")).outcome is ReserveOutcome.ACCEPTED
    listed = await w.service.repo.live(charge_point_id="CP16")
    assert [r.reservation_id for r in listed] == ["R0", "R1"]
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP16", evse_id=None, connector_id=1, status=ConnectorStatus.FAULTED))
    await w.service.drain()
    moved = await stored(w)
    assert moved.state is ReservationState.REROUTED and moved.evse_uid != "E1"
    r0 = await w.service.get(EMSP, "R0")
    assert r0 is not None and r0.state is ReservationState.PENDING
