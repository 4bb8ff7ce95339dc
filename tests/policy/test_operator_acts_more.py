"""More of the operator acts: a target out of order or held by another, what a refused move
leaves on the record, an extension's answers, listeners and promise when the charger says no,
and the extensions refused before any charger is asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest

from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.reservation_policy.acts import ActOutcome
from ocpi_gateway.reservation_policy.attempts import new_record
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.records import COLLECTION, Reservation, ReservationState
from tests.policy.support import NOW
from tests.policy.test_capacity_gate import EMSP, Site
from tests.policy.test_lost_races import cancelled_by_another_instance, last_reason, racing_world
from tests.policy.test_operator_acts import KEY, _reserved


@pytest.fixture
async def two() -> AsyncIterator[Site]:
    s = Site(2, bookings=False)
    yield s
    await s.close()


@pytest.fixture
async def two_booked() -> AsyncIterator[Site]:
    s = Site(2)
    yield s
    await s.close()


async def test_a_target_out_of_order_is_refused_and_no_charger_asked(
        two: Site) -> None:
    service = await two.start()
    first = await _reserved(two, service, 30)
    other = "E001" if first == "E000" else "E000"
    await two.avail.set_status("LOC1", other, EvseStatus.OUTOFORDER, NOW + timedelta(hours=1))
    sent = len(two.chargers.sent)
    refused = await service.move_by_cpo(KEY, other, reason="r", time_budget=2)
    assert refused.outcome is ActOutcome.REFUSED
    assert refused.message.startswith(f"EVSE {other} cannot take it: ")
    assert len(two.chargers.sent) == sent
    kept = await service.get(EMSP, "R1")
    assert kept is not None and (kept.evse_uid, kept.state) == (first, ReservationState.ACTIVE)


async def test_a_move_the_charger_refused_leaves_one_entry_per_step_on_the_record(
        two: Site) -> None:
    service = await two.start()
    first = await _reserved(two, service, 30)
    other = "E001" if first == "E000" else "E000"
    before = await service.get(EMSP, "R1")
    assert before is not None
    target = next(c for c in two.candidates if c.evse_uid == other)
    two.chargers.script[(target.charge_point_id, target.address.evse_id,
                         target.address.connector_id)] = [CommandOutcome.REJECTED]
    no = await service.move_by_cpo(KEY, other, reason="r", time_budget=2)
    assert no.outcome is ActOutcome.REFUSED
    kept = await service.get(EMSP, "R1")
    assert kept is not None and no.reservation == kept and kept.attempt is None
    # The ReserveNow sent, and its target dropped once the charger answered no.
    assert [h["reason"] for h in kept.history[len(before.history):]] == [
        "ReserveNow sent", "move refused"]


async def test_a_move_the_charger_did_not_answer_keeps_its_target_for_a_withdrawal(
        two: Site) -> None:
    service = await two.start()
    first = await _reserved(two, service, 30)
    other = "E001" if first == "E000" else "E000"
    two.chargers.answer_after = asyncio.Event()  # it may accept later: unknown
    silent = await service.move_by_cpo(KEY, other, reason="r", time_budget=0.1)
    assert silent.outcome is ActOutcome.REFUSED
    kept = await service.get(EMSP, "R1")
    assert kept is not None and kept.evse_uid == first
    assert kept.attempt is not None and kept.attempt.evse_uid == other
    assert silent.reservation == kept
    two.chargers.answer_after.set()
    two.chargers.answer_after = None
    await service.drain()


async def test_a_move_to_a_held_target_writes_nothing(two: Site) -> None:
    service = await two.start()
    first = await _reserved(two, service, 30)
    other = "E001" if first == "E000" else "E000"
    before = await service.get(EMSP, "R1")
    assert await two.avail.pick_and_hold("LOC1", [other], holder="someone else",
                                         until=two.minutes(60)) == other
    busy = await service.move_by_cpo(KEY, other, reason="r", time_budget=2)
    assert busy.outcome is ActOutcome.REFUSED
    assert await service.get(EMSP, "R1") == before


async def test_a_refused_longer_expiry_gives_back_its_promise_and_tells_no_listener(
        two_booked: Site) -> None:
    site = two_booked
    service = await site.start()
    evse = await _reserved(site, service, 10)
    heard: list[tuple[ReservationState, ReservationState]] = []

    async def listener(r: Reservation, previous: ReservationState) -> None:
        heard.append((previous, r.state))

    service.add_listener(listener)
    before = await service.get(EMSP, "R1")
    assert before is not None and before.charge_point_id is not None
    site.chargers.script[(before.charge_point_id, before.evse_id, before.connector_id)] = [
        CommandOutcome.REJECTED]
    refused = await service.extend_by_cpo(KEY, site.minutes(60), reason="r", time_budget=2)
    assert refused.outcome is ActOutcome.REFUSED
    assert refused.charger_outcomes == ((evse, CommandOutcome.REJECTED),)
    assert heard == []
    [ours] = await site.timeline.promises("LOC1", site.minutes(0), site.minutes(200))
    assert ours.end == site.minutes(20)  # the 10 minutes + the buffer, as before
    done = await service.extend_by_cpo(KEY, site.minutes(30), reason="r", time_budget=2)
    assert done.outcome is ActOutcome.DONE
    assert done.charger_outcomes == ((evse, CommandOutcome.ACCEPTED),)
    assert heard == [(ReservationState.ACTIVE, ReservationState.ACTIVE)]


async def test_extensions_refused_before_any_charger_is_asked(two: Site) -> None:
    service = await two.start()
    assert (await service.extend_by_cpo("NL-EXA/NOPE", two.minutes(60), reason="r",
                                        time_budget=2)).outcome is ActOutcome.NOT_FOUND
    await _reserved(two, service, 10)
    sent = len(two.chargers.sent)
    now = await service.extend_by_cpo(KEY, two.clock.now, reason="r", time_budget=2)
    assert now.outcome is ActOutcome.REFUSED and "past" in now.message
    made = await service.get(EMSP, "R1")
    assert made is not None
    await two.store.put(COLLECTION, KEY, replace(made, booking_key="b1").to_doc())
    booked = await service.extend_by_cpo(KEY, two.minutes(60), reason="r", time_budget=2)
    assert booked.outcome is ActOutcome.REFUSED
    assert booked.message.startswith("a booking's reservation runs to its booking's")
    assert len(two.chargers.sent) == sent
    assert (await service.get(EMSP, "R1")) == replace(made, booking_key="b1")


async def test_a_reservation_still_being_made_is_not_extended(two: Site) -> None:
    service = await two.start()
    assert await service.repo.start(new_record(KEY, "R1", two.request(30)), None) is not None
    result = await service.extend_by_cpo(KEY, two.minutes(60), reason="r", time_budget=2)
    assert result.outcome is ActOutcome.REFUSED and "still being made" in result.message
    assert two.chargers.sent == []


async def test_a_target_the_policy_excludes_is_refused_with_the_policys_reason(
        two: Site) -> None:
    two.candidates[1] = replace(two.candidates[1], reservable=False)
    service = await two.start()
    assert await _reserved(two, service, 30) == "E000"  # the one reservable EVSE
    refused = await service.move_by_cpo(KEY, "E001", reason="r", time_budget=2)
    assert refused.outcome is ActOutcome.REFUSED
    assert refused.message.startswith("EVSE E001 cannot take it: ")
    assert len(refused.message) > len("EVSE E001 cannot take it: ")
    assert refused.charger_outcomes == ()
    kept = await service.get(EMSP, "R1")
    assert kept is not None and kept.evse_uid == "E000" and refused.reservation == kept
    assert len(two.chargers.sent) == 1  # the first ReserveNow only


@pytest.mark.parametrize("act", ["move", "extend"])
async def test_an_act_on_a_record_another_instance_ended_meanwhile_answers_not_live(
        act: str) -> None:
    w, racing = await racing_world(lambda key, doc: last_reason(doc) == "by the operator",
                                   cancelled_by_another_instance)
    made = (await w.reserve("R1", evse_uid="E000")).reservation
    assert made is not None
    if act == "move":
        result = await w.service.move_by_cpo(KEY, "E001", reason="by the operator",
                                             time_budget=2)
    else:
        result = await w.service.extend_by_cpo(KEY, made.expiry + timedelta(minutes=10),
                                               reason="by the operator", time_budget=2)
    assert racing.raced
    assert result.outcome is ActOutcome.NOT_LIVE
    assert result.message.startswith("the reservation ended meanwhile")
    assert result.reservation is not None
    assert result.reservation.state is ReservationState.CANCELLED
    assert result.reservation == await w.service.get(EMSP, "R1")
