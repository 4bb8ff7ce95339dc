"""Replacing a live reservation with a RESERVE_NOW of the same reservation_id (replacement.py):
its own reservation does not count against the partner cap, a refused move leaves nothing to
settle, a silent charger's target is kept for its withdrawal, and a move to another location
gives back the old hold even where the EVSE uid is the same."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.reservation_policy.lifecycle import ReserveOutcome
from ocpi_gateway.reservation_policy.models import ReservationRequest
from ocpi_gateway.reservation_policy.records import ReservationState
from tests.policy.support import StaticCandidates, evse, grid
from tests.policy.world import EMSP, World


async def test_a_move_to_another_evse_is_not_refused_by_the_partner_cap_it_fills() -> None:
    w = await World(grid(4), max_concurrent_per_emsp=1).ready()
    first = await w.reserve()
    assert first.outcome is ReserveOutcome.ACCEPTED and first.evse_uid == "E000"
    moved = await w.reserve(evse_uid="E003")
    assert moved.outcome is ReserveOutcome.ACCEPTED and moved.evse_uid == "E003"
    assert await w.service.repo.count_live(EMSP) == 1


async def test_a_move_the_charger_refuses_leaves_the_old_reservation_with_nothing_to_settle(
        ) -> None:
    w = await World(grid(4)).ready()
    first = await w.reserve()
    w.chargers.script[("CP001", 2, None)] = [CommandOutcome.REJECTED]
    refused = await w.reserve(evse_uid="E003")
    assert refused.outcome is ReserveOutcome.REJECTED
    assert refused.reservation is not None and refused.reservation.attempt is None
    kept = await w.service.get(EMSP, "R1")
    assert kept is not None and kept.state is ReservationState.ACTIVE
    assert (kept.evse_uid, kept.attempt) == (first.evse_uid, None)
    assert not kept.unsettled


async def test_a_move_to_a_silent_charger_keeps_its_target_until_it_is_withdrawn() -> None:
    w = await World(grid(4)).ready()
    w.service = w.new_service(charger_timeout=30.0)  # the withdrawal waits for the event below
    first = await w.reserve()
    assert first.reservation is not None
    w.chargers.answer_after = asyncio.Event()  # the new charger takes it, answers too late
    w.chargers.cancel_after = asyncio.Event()  # and its cancel is not answered yet either
    silent = await w.reserve(evse_uid="E003", budget=0.1)
    assert silent.outcome is ReserveOutcome.TIMEOUT
    kept = await w.service.get(EMSP, "R1")
    assert kept is not None and kept.evse_uid == first.evse_uid
    assert kept.attempt is not None and kept.attempt.evse_uid == "E003"
    w.chargers.answer_after = None
    w.chargers.cancel_after.set()
    await w.service.drain()
    settled = await w.service.get(EMSP, "R1")
    assert settled is not None and settled.attempt is None
    assert list(w.chargers.reservations) == [(first.reservation.charge_point_id,
                                              first.ocpp_reservation_id)]


async def test_a_move_to_another_location_frees_the_old_evse_of_the_same_uid() -> None:
    # EVSE uids are unique within a location only: both locations have an "E000".
    w = await World([evse("E000", "CPA"), evse("E000", "CPB", location="LOC2")]).ready()
    assert (await w.reserve()).outcome is ReserveOutcome.ACCEPTED
    request = ReservationRequest("LOC2", None, EMSP, "04A1B2C3D4",
                                 w.clock() + timedelta(minutes=30))
    moved = await w.service.reserve(request, "R1", time_budget=2.0)
    assert moved.outcome is ReserveOutcome.ACCEPTED
    assert moved.reservation is not None and moved.reservation.location_id == "LOC2"
    assert await w.holders() == {}  # LOC1's E000 is free again
    held = await w.avail.get("LOC2", "E000")
    assert held is not None and held.holder == "NL-EXA/R1"


async def test_an_update_in_place_waits_within_the_budget_and_names_its_evse() -> None:
    w = await World(grid(2)).ready()
    first = await w.reserve(minutes=20)
    updated = await w.reserve(minutes=40, budget=0.05)
    assert updated.outcome is ReserveOutcome.ACCEPTED and updated.evse_uid == first.evse_uid
    assert updated.charger_outcomes == ((first.evse_uid, CommandOutcome.ACCEPTED),)
    assert len(w.chargers.reserve_nows()) == 2
    assert 0 < w.chargers.waits[-1] <= 0.05  # the update's ReserveNow


async def test_a_shorter_update_in_place_keeps_the_hold_it_has() -> None:
    # The hold already lasts past the new expiry: it is not given up and taken again (which
    # another request could win in between).
    w = await World(grid(2)).ready()
    first = await w.reserve(minutes=40)
    shorter = await w.reserve(minutes=20)
    assert shorter.outcome is ReserveOutcome.ACCEPTED and shorter.evse_uid == first.evse_uid
    assert first.reservation is not None and first.evse_uid is not None
    hold = await w.avail.get("LOC1", first.evse_uid)
    assert hold is not None and hold.holder == "NL-EXA/R1"
    assert hold.hold_until == first.reservation.expiry


async def test_a_replacement_the_policy_refuses_leaves_the_reservation_as_it_was() -> None:
    w = await World(grid(2)).ready()
    first = await w.reserve()
    assert first.reservation is not None
    refused = await w.reserve(evse_uid="NOT-HERE")
    assert refused.outcome is ReserveOutcome.REJECTED
    assert refused.refusal is not None
    assert refused.reservation == first.reservation
    assert await w.service.get(EMSP, "R1") == first.reservation
    assert await w.holders() == {"E000": "NL-EXA/R1"}
    assert len(w.chargers.reserve_nows()) == 1 and w.chargers.cancels() == []


async def test_a_replacement_whose_evse_left_the_location_moves_the_reservation() -> None:
    w = await World(grid(2)).ready()
    first = await w.reserve()
    assert first.evse_uid == "E000"
    # The location's data no longer lists E000 (taken out of the CPO's feed).
    w.service.candidates = StaticCandidates([c for c in w.candidates if c.evse_uid != "E000"])
    moved = await w.reserve(minutes=40)
    assert moved.outcome is ReserveOutcome.ACCEPTED and moved.evse_uid == "E001"
    await w.service.drain()
    assert len(w.chargers.cancels()) == 1  # the old one withdrawn at its charger
