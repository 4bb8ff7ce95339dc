"""A worker that stops half-way (crash, or its command cut by its timeout) leaves nothing live
behind: a reservation that never became active ends FAILED with its hold and cap slot given
back, and any ReserveNow a charger may have accepted meanwhile is cancelled there."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.domain.events import ChargerConnected, utc_now
from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.reservation_policy.attempts import withdraw
from ocpi_gateway.reservation_policy.lifecycle import ReservationService, ReserveOutcome
from ocpi_gateway.reservation_policy.partner_cap import COLLECTION as CAP_SLOTS
from ocpi_gateway.reservation_policy.records import COLLECTION, Reservation, ReservationState
from ocpi_gateway.reservation_policy.recovery import settle_stale
from tests.policy.support import grid
from tests.policy.world import EMSP, ManualClock, World

LATER = timedelta(hours=1)
"""Far enough past the last write that no worker can still be on a record."""


async def crash_mid_reserve_now(w: World, rid: str = "R1", *, evse_uid: str | None = None
                                ) -> None:
    """The charger accepts the ReserveNow, but the gateway's worker dies before the answer."""
    w.chargers.answer_after = asyncio.Event()
    task = asyncio.create_task(w.reserve(rid, evse_uid=evse_uid))
    sent = len(w.chargers.reserve_nows())
    for _ in range(1000):
        if len(w.chargers.reserve_nows()) > sent:
            break
        await asyncio.sleep(0.001)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    w.chargers.answer_after = None


async def stored(w: World, rid: str = "R1") -> Reservation:
    r = await w.service.get(EMSP, rid)
    assert r is not None
    return r


async def test_reservation_never_active_is_failed_cancelled_and_freed() -> None:
    w = await World(grid(2), max_concurrent_per_emsp=1).ready()
    await crash_mid_reserve_now(w)
    left = await stored(w)
    # What the crash left: PENDING, its target stored before the ReserveNow went out.
    assert left.state is ReservationState.PENDING and left.attempt is not None
    held_at_charger = dict(w.chargers.reservations)
    assert held_at_charger == {(left.attempt.charge_point_id,
                                left.attempt.ocpp_reservation_id): (1, None)}

    restarted = w.new_service()
    settled = await restarted.settle_abandoned(EMSP, "R1")

    assert settled is not None and settled.state is ReservationState.FAILED
    assert not settled.unsettled
    assert [(c.charge_point_id, c.reservation_id) for c in w.chargers.cancels()] == list(
        held_at_charger)
    assert w.chargers.reservations == {}  # nothing left at the charger
    assert await w.holders() == {}
    assert await restarted.repo.count_live(EMSP) == 0
    [slot] = await w.store.find(CAP_SLOTS)
    assert slot["reservation_key"] == ""  # given back, not left for a take-over
    # The cap slot is free again: the partner's cap of 1 admits a new reservation.
    w.service = restarted
    assert (await w.reserve("R2")).outcome is ReserveOutcome.ACCEPTED


async def test_pending_record_with_a_hold_but_no_target_yet_is_freed_by_the_sweep() -> None:
    w = await World(grid(1)).ready()
    request = w.request()
    # A crash between the hold and the write of the target: nothing was sent.
    record = Reservation(key="NL-EXA/R1", country_code="NL", party_id="EXA",
                         reservation_id="R1", location_id="LOC1", token_uid="04A1B2C3D4",
                         token_type="ISO14443", expiry=request.expiry,
                         state=ReservationState.PENDING)
    assert await w.service.repo.start(record, None) is not None
    assert await w.avail.pick_and_hold("LOC1", ["E000"], holder="NL-EXA/R1",
                                       until=request.expiry) == "E000"
    # Fresh: a worker may still be on it.
    assert await settle_stale(w.service, utc_now(), timedelta(minutes=5)) == 0
    assert (await stored(w)).state is ReservationState.PENDING

    assert await settle_stale(w.service, utc_now() + LATER, timedelta(minutes=5)) == 1
    assert (await stored(w)).state is ReservationState.FAILED
    assert await w.holders() == {}
    assert w.chargers.cancels() == []  # no ReserveNow was sent, nothing to cancel


async def test_replacement_cut_half_way_keeps_the_old_and_withdraws_the_new() -> None:
    w = await World(grid(4)).ready()
    first = await w.reserve("R1", evse_uid="E000")
    old = first.reservation
    assert old is not None
    await crash_mid_reserve_now(w, "R1", evse_uid="E002")
    left = await stored(w)
    assert left.state is ReservationState.ACTIVE and left.attempt is not None
    assert left.attempt.evse_uid == "E002"

    assert await settle_stale(w.service, utc_now() + LATER, timedelta(minutes=5)) == 1

    kept = await stored(w)
    assert kept.state is ReservationState.ACTIVE and kept.attempt is None
    assert (kept.evse_uid, kept.ocpp_reservation_id) == ("E000", old.ocpp_reservation_id)
    assert [(c.charge_point_id, c.reservation_id) for c in w.chargers.cancels()] == [
        (left.attempt.charge_point_id, left.attempt.ocpp_reservation_id)]
    assert list(w.chargers.reservations) == [(old.charge_point_id, old.ocpp_reservation_id)]
    assert await w.holders() == {"E000": "NL-EXA/R1"}


async def test_withdrawal_waits_for_an_offline_charger_and_goes_out_when_it_connects() -> None:
    w = await World(grid(2)).ready()
    await crash_mid_reserve_now(w)
    target = (await stored(w)).attempt
    assert target is not None
    w.chargers.offline.add(target.charge_point_id)
    restarted: ReservationService = w.new_service()
    settled = await restarted.settle_abandoned(EMSP, "R1")
    assert settled is not None and settled.state is ReservationState.FAILED
    assert settled.unsettled  # the charger still holds it: not forgotten
    assert await w.holders() == {}

    w.chargers.offline.clear()
    await restarted.handle_event(ChargerConnected(charge_point_id=target.charge_point_id,
                                                  ocpp_version=OcppVersion.V201))
    await restarted.drain()
    assert w.chargers.reservations == {}
    assert not (await stored(w)).unsettled


async def test_late_accept_after_a_timeout_is_withdrawn_and_the_record_settled() -> None:
    w = await World(grid(1)).ready()
    w.chargers.answer_after = asyncio.Event()  # accepted at the charger, answered too late
    result = await w.reserve(budget=0.1)
    assert result.outcome is ReserveOutcome.TIMEOUT
    w.chargers.answer_after.set()
    w.chargers.answer_after = None
    await w.service.drain()
    r = await stored(w)
    assert r.state is ReservationState.FAILED and not r.unsettled
    assert w.chargers.reservations == {}
    assert await w.holders() == {}


async def test_pending_record_left_before_the_upgrade_is_settled_by_the_first_sweep() -> None:
    w = await World(grid(1), max_concurrent_per_emsp=1).ready()
    request = w.request()
    record = Reservation(key="NL-EXA/OLD", country_code="NL", party_id="EXA",
                         reservation_id="OLD", location_id="LOC1", token_uid="04A1B2C3D4",
                         token_type="ISO14443", expiry=request.expiry,
                         state=ReservationState.PENDING,
                         updated_at=utc_now() - timedelta(days=1))
    doc = record.to_doc()
    del doc["unsettled"], doc["attempt"]  # as the version before wrote it
    await w.store.put(COLLECTION, record.key, doc)
    assert await w.avail.pick_and_hold("LOC1", ["E000"], holder=record.key,
                                       until=request.expiry) == "E000"
    stale = timedelta(minutes=5)
    assert await settle_stale(w.service, utc_now(), stale) == 0  # the regular sweep
    assert await settle_stale(w.service, utc_now(), stale, legacy=True) == 1
    old = await stored(w, "OLD")
    assert old.state is ReservationState.FAILED and not old.unsettled
    assert await w.holders() == {}
    assert (await w.reserve("NEW")).outcome is ReserveOutcome.ACCEPTED  # its cap is free


async def test_a_timed_out_attempt_whose_withdrawal_failed_is_withdrawn_when_it_connects() -> None:
    w = await World(grid(2)).ready()
    w.chargers.script[("CP000", 1, None)] = [CommandOutcome.OCCUPIED]  # the first refuses
    w.chargers.answer_after = asyncio.Event()  # the next accepts but never answers
    w.chargers.cancel_answers = [CommandOutcome.OFFLINE]  # and gone when withdrawn
    result = await w.reserve(budget=0.1)
    assert result.outcome is ReserveOutcome.TIMEOUT
    assert [outcome for _, outcome in result.charger_outcomes] == [
        CommandOutcome.OCCUPIED, CommandOutcome.TIMEOUT]
    w.chargers.answer_after = None
    await w.service.drain()
    failed = await stored(w)
    # The charger may hold it: the failed record keeps the target for a later withdrawal.
    assert failed.state is ReservationState.FAILED and failed.attempt is not None
    assert list(w.chargers.reservations) == [(failed.attempt.charge_point_id,
                                              failed.attempt.ocpp_reservation_id)]
    await w.service.handle_event(ChargerConnected(charge_point_id=failed.attempt.charge_point_id,
                                                  ocpp_version=OcppVersion.V201))
    await w.service.drain()
    assert w.chargers.reservations == {}
    assert not (await stored(w)).unsettled


async def test_a_reservation_every_charger_refused_leaves_nothing_to_settle() -> None:
    w = await World(grid(2), max_concurrent_per_emsp=1).ready()
    w.chargers.script[("CP000", 1, None)] = [CommandOutcome.OCCUPIED]
    w.chargers.script[("CP000", 2, None)] = [CommandOutcome.REJECTED]
    result = await w.reserve()
    assert result.outcome is ReserveOutcome.OCCUPIED
    failed = await stored(w)
    assert failed.state is ReservationState.FAILED and not failed.unsettled
    # Its cap slot is given back at once, not left for a take-over.
    [slot] = await w.store.find(CAP_SLOTS)
    assert slot["reservation_key"] == ""
    assert await settle_stale(w.service, utc_now() + LATER, timedelta(minutes=5)) == 0
    assert w.chargers.cancels() == []  # a refused target is nothing at its charger


async def test_a_withdrawal_settles_only_the_attempt_it_withdrew() -> None:
    w = await World(grid(2)).ready()
    await crash_mid_reserve_now(w)
    left = await stored(w)
    assert left.attempt is not None
    # An earlier ReserveNow of the same record, withdrawn after the record moved on.
    earlier = replace(left.attempt, ocpp_reservation_id=left.attempt.ocpp_reservation_id + 1)
    assert await withdraw(w.service, left.key, earlier) is True  # answered: done
    assert (await stored(w)).attempt == left.attempt


async def test_a_withdrawal_the_offline_charger_did_not_answer_is_to_be_tried_again() -> None:
    clock = ManualClock()
    w = await World(grid(2), clock=clock).ready()
    await crash_mid_reserve_now(w)
    left = await stored(w)
    assert left.attempt is not None
    w.chargers.offline.add(left.attempt.charge_point_id)
    assert await withdraw(w.service, left.key, left.attempt) is False
    assert (await stored(w)).attempt == left.attempt
    clock.now = left.ends_at  # expired at the charger by now: nothing left to withdraw
    assert await withdraw(w.service, left.key, left.attempt) is True
    assert (await stored(w)).attempt is None


async def test_a_charger_offline_at_the_expiry_has_dropped_the_reservation_itself() -> None:
    clock = ManualClock()
    w = await World(grid(2), clock=clock).ready()
    await crash_mid_reserve_now(w)
    left = await stored(w)
    assert left.attempt is not None
    w.chargers.offline.add(left.attempt.charge_point_id)
    restarted = w.new_service()
    clock.now = left.expiry - timedelta(seconds=1)
    before = await restarted.settle_abandoned(EMSP, "R1")
    assert before is not None and before.unsettled  # it may still hold it: tried again later
    clock.now = left.expiry
    at_expiry = await restarted.settle_abandoned(EMSP, "R1")
    assert at_expiry is not None and not at_expiry.unsettled


async def test_staleness_is_judged_on_the_service_clock_not_the_wall_clock() -> None:
    """Records are stamped on the service's clock: a service whose clock is a day ahead of
    the machine's finds a record fresh right after its write, and stale an hour later."""
    clock = ManualClock()
    clock.now += timedelta(days=1)
    w = await World(grid(1), clock=clock).ready()
    await crash_mid_reserve_now(w)
    left = await stored(w)
    assert left.updated_at == left.created_at == clock.now
    assert await settle_stale(w.service, clock.now, timedelta(minutes=5)) == 0
    assert await settle_stale(w.service, clock.now + LATER, timedelta(minutes=5)) == 1
    assert (await stored(w)).state is ReservationState.FAILED


async def test_settling_a_record_with_nothing_left_answers_it_unchanged() -> None:
    w = await World(grid(1)).ready()
    made = await w.reserve()
    assert made.reservation is not None and not made.reservation.unsettled
    assert await w.service.settle_abandoned(EMSP, "R1") == made.reservation
    assert await w.service.settle_abandoned(EMSP, "NONE") is None
    assert w.chargers.cancels() == []
