"""The reservation core: its per-reservation lock, the partner cap's slots, the outcome of
several charger answers (core.py, results.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from ocpi_gateway.domain.charger_commands import CancelReservation, CommandOutcome
from ocpi_gateway.domain.events import (
    ConnectorStatus,
    ConnectorStatusChanged,
    TransactionStarted,
)
from ocpi_gateway.reservation_policy.engine import RefusalReason
from ocpi_gateway.reservation_policy.lifecycle import CancelOutcome, ReserveOutcome
from ocpi_gateway.reservation_policy.partner_cap import COLLECTION as CAP_SLOTS
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.reservation_policy.results import final_outcome
from tests.policy.support import grid
from tests.policy.world import EMSP, ManualClock, World


async def test_a_live_reservation_keeps_its_cap_slot_and_an_ended_one_frees_it() -> None:
    w = await World(grid(4), max_concurrent_per_emsp=1).ready()
    first = await w.reserve("R1")
    assert first.outcome is ReserveOutcome.ACCEPTED
    second = await w.reserve("R2")
    assert second.outcome is ReserveOutcome.REJECTED
    assert second.refusal is not None
    assert second.refusal.reason is RefusalReason.PARTNER_CAP_REACHED
    assert await w.service.get(EMSP, "R2") is None  # refused before anything was written
    assert (await w.service.cancel(EMSP, "R1")).outcome is CancelOutcome.ACCEPTED
    third = await w.reserve("R3")
    assert third.outcome is ReserveOutcome.ACCEPTED
    assert third.reservation is not None and third.reservation.cap_slot == 0
    # Used by a transaction: the slot is given back at once, not left for a take-over.
    await w.service.handle_event(TransactionStarted(
        charge_point_id=third.reservation.charge_point_id or "", transaction_id="T1",
        evse_id=third.reservation.evse_id, connector_id=1, id_token="04A1B2C3D4",
        reservation_id=third.ocpp_reservation_id))
    [slot] = await w.store.find(CAP_SLOTS)
    assert slot["reservation_key"] == ""
    assert (await w.reserve("R4")).outcome is ReserveOutcome.ACCEPTED


async def test_work_on_one_reservation_is_serialised_and_the_lock_dropped_after() -> None:
    w = await World(grid(1)).ready()
    core = w.service
    inside: list[str] = []
    entered = {name: asyncio.Event() for name in "ABC"}
    leave = {name: asyncio.Event() for name in "ABC"}

    async def work(name: str) -> None:
        async with core.lock("NL-EXA/R1"):
            inside.append(name)
            entered[name].set()
            await leave[name].wait()
            inside.remove(name)

    a = asyncio.create_task(work("A"))
    await entered["A"].wait()
    b = asyncio.create_task(work("B"))
    await asyncio.sleep(0)
    leave["A"].set()
    await entered["B"].wait()
    # C arrives while B works: it must wait for B, though A, who made the lock, is gone.
    c = asyncio.create_task(work("C"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert inside == ["B"]
    leave["B"].set()
    await entered["C"].wait()
    assert inside == ["C"]
    leave["C"].set()
    await asyncio.gather(a, b, c)
    assert len(core._locks) == 0  # nobody holds or waits: the entry is gone


def test_the_outcome_of_several_answers_is_a_timeout_only_when_the_last_timed_out() -> None:
    occupied, timeout = CommandOutcome.OCCUPIED, CommandOutcome.TIMEOUT
    # The silent charger may still accept: say so, whatever the others answered before.
    assert final_outcome([occupied, timeout]) is ReserveOutcome.TIMEOUT
    assert final_outcome([CommandOutcome.REJECTED, occupied]) is ReserveOutcome.OCCUPIED
    assert final_outcome([CommandOutcome.FAULTED]) is ReserveOutcome.INOPERATIVE
    # An answer none of the priorities names (no ReserveNow answer): a plain rejection.
    assert final_outcome([CommandOutcome.SCHEDULED]) is ReserveOutcome.REJECTED


async def test_the_sweep_takes_a_pending_record_after_twice_the_charger_wait_and_10_s() -> None:
    # charger_timeout 0.2 s (World): a worker writes its record at least every 0.2 s, so
    # 2 x 0.2 + 10 = 10.4 s untouched means nobody is on it.
    clock = ManualClock()
    w = await World(grid(1), clock=clock).ready()
    record = Reservation(key="NL-EXA/R1", country_code="NL", party_id="EXA",
                         reservation_id="R1", location_id="LOC1", token_uid="04A1B2C3D4",
                         token_type="ISO14443", expiry=clock.now + timedelta(minutes=30),
                         state=ReservationState.PENDING, updated_at=clock.now)
    assert await w.service.repo.start(record, None) is not None
    left = await w.service.get(EMSP, "R1")
    assert left is not None and left.updated_at == clock.now
    clock.advance(10.39)
    assert await w.service.recovery.sweep() == 0
    left = await w.service.get(EMSP, "R1")
    assert left is not None and left.state is ReservationState.PENDING
    clock.advance(0.01)
    assert await w.service.recovery.sweep() == 1
    failed = await w.service.get(EMSP, "R1")
    assert failed is not None and failed.state is ReservationState.FAILED
    assert ("R1", ReservationState.PENDING, ReservationState.FAILED) in w.seen


async def test_two_requests_past_the_count_at_once_still_keep_the_partner_cap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Both requests count 0 live reservations before either is written; the slot claim is
    # what keeps the second out: the first's slot belongs to a live reservation.
    w = await World(grid(4), max_concurrent_per_emsp=1).ready()
    counted, go_on = asyncio.Event(), asyncio.Event()
    count = w.store.count

    async def count_then_wait(collection: str, where: dict[str, Any] | None = None) -> int:
        n = await count(collection, where)
        if asyncio.current_task() is late:
            counted.set()
            await go_on.wait()
        return n

    monkeypatch.setattr(w.store, "count", count_then_wait)
    late = asyncio.create_task(w.reserve("R2"))
    await counted.wait()
    assert (await w.reserve("R1")).outcome is ReserveOutcome.ACCEPTED
    go_on.set()
    second = await late
    assert second.outcome is ReserveOutcome.REJECTED
    assert second.refusal is not None
    assert second.refusal.reason is RefusalReason.PARTNER_CAP_REACHED
    assert await w.service.repo.count_live(EMSP) == 1
    assert len(w.chargers.reserve_nows()) == 1


async def test_a_cancel_waits_for_the_charger_as_long_as_the_caller_says() -> None:
    w = await World(grid(2)).ready()
    assert (await w.reserve("R1")).outcome is ReserveOutcome.ACCEPTED
    assert (await w.reserve("R2")).outcome is ReserveOutcome.ACCEPTED
    await w.service.cancel(EMSP, "R1", charger_wait=0.05)
    await w.service.cancel(EMSP, "R2")  # the service's own charger wait: 0.2 s (World)
    waits = [wait for command, wait in zip(w.chargers.sent, w.chargers.waits, strict=True)
             if isinstance(command, CancelReservation)]
    assert waits == [0.05, 0.2]


async def test_closing_the_service_stops_its_background_work_before_it_returns() -> None:
    w = await World(grid(2)).ready()
    # A long charger wait: the re-route below is still waiting for the charger when closed.
    w.service = w.new_service(charger_timeout=30.0)
    reserved = await w.reserve()
    assert reserved.reservation is not None
    w.chargers.cancel_after = asyncio.Event()  # the charger never answers the cancel
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP000", status=ConnectorStatus.FAULTED,
        evse_id=reserved.reservation.evse_id, connector_id=1))
    for _ in range(1000):  # the re-route runs in the background: until it asks the charger
        if w.chargers.cancels():
            break
        await asyncio.sleep(0.001)
    assert len(w.chargers.cancels()) == 1
    await w.service.aclose()
    assert w.chargers.interrupted == w.chargers.cancels()


async def test_a_cap_slot_left_by_an_ended_reservation_is_taken_over() -> None:
    w = await World(grid(4), max_concurrent_per_emsp=1).ready()
    first = await w.reserve("R1")
    assert first.reservation is not None and first.reservation.cap_slot == 0
    assert (await w.service.cancel(EMSP, "R1")).outcome is CancelOutcome.ACCEPTED
    # A crash between the end of R1 and the release of its slot: the slot still names R1.
    await w.store.put(CAP_SLOTS, "NL-EXA#0", {"reservation_key": first.reservation.key,
                                              "partner_key": "NL-EXA", "slot": 0})
    second = await w.reserve("R2")
    assert second.outcome is ReserveOutcome.ACCEPTED
    assert second.reservation is not None and second.reservation.cap_slot == 0
    [slot] = await w.store.find(CAP_SLOTS)
    assert slot["reservation_key"] == second.reservation.key


async def test_no_cancel_goes_to_a_charger_without_both_of_its_ids() -> None:
    w = await World(grid(1)).ready()
    reserved = await w.reserve("R1")
    assert reserved.reservation is not None
    r = reserved.reservation
    assert r.charge_point_id is not None and r.ocpp_reservation_id is not None
    assert await w.service.cancel_at_charger(replace(r, ocpp_reservation_id=None)) is None
    assert await w.service.cancel_at_charger(replace(r, charge_point_id=None)) is None
    assert w.chargers.cancels() == []
    assert await w.service.cancel_at_charger(r) is CommandOutcome.ACCEPTED
    assert w.chargers.cancels() == [CancelReservation(charge_point_id=r.charge_point_id,
                                                      reservation_id=r.ocpp_reservation_id)]


async def test_background_work_cancelled_at_close_ends_cancelled() -> None:
    w = await World(grid(1)).ready()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    w.service.in_background(forever())
    [task] = list(w.service._background)
    await started.wait()
    await w.service.aclose()
    # Its cancellation is not swallowed (a caller awaiting it sees CancelledError).
    assert task.cancelled()


async def test_a_listener_s_failure_is_logged_and_its_cancellation_passed_on() -> None:
    w = await World(grid(1)).ready()
    reserved = await w.reserve("R1")
    assert reserved.reservation is not None
    heard: list[str] = []
    waiting = asyncio.Event()

    async def failing(r: Reservation, previous: ReservationState) -> None:
        heard.append("failing")
        raise RuntimeError("a listener's bug")

    async def slow(r: Reservation, previous: ReservationState) -> None:
        heard.append("slow")
        waiting.set()
        await asyncio.Event().wait()

    async def last(r: Reservation, previous: ReservationState) -> None:
        heard.append("last")

    for listener in (failing, slow, last):
        w.service.add_listener(listener)
    task = asyncio.create_task(w.service.notify(reserved.reservation, ReservationState.PENDING))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The failing one did not stop the next; the cancelled one stopped the rest.
    assert heard == ["failing", "slow"]
