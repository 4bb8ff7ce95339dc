"""What the recovery sweeps pick (stale live records, a connecting charger's stray targets),
what they count, the sweeper's own loop, and a live record left with a ReserveNow to its own
EVSE or its own target."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.records import (
    COLLECTION,
    ChargerTarget,
    Reservation,
    ReservationState,
)
from ocpi_gateway.reservation_policy.recovery import RecoverySweeper, settle_stale
from tests.policy.support import grid
from tests.policy.test_lost_races import cancelled_by_another_instance, last_reason, racing_world
from tests.policy.test_recovery import crash_mid_reserve_now, stored
from tests.policy.world import EMSP, ManualClock, World

STALE = timedelta(minutes=5)


def pending(w: World, rid: str) -> Reservation:
    request = w.request()
    return Reservation(key=f"NL-EXA/{rid}", country_code="NL", party_id="EXA",
                       reservation_id=rid, location_id="LOC1", token_uid="04A1B2C3D4",
                       token_type="ISO14443", expiry=request.expiry,
                       state=ReservationState.PENDING)


@pytest.mark.parametrize("fresh_first", [True, False])
async def test_a_fresh_record_is_skipped_and_the_stale_ones_after_it_still_settled(
        fresh_first: bool) -> None:
    clock = ManualClock()
    t0 = clock.now
    w = await World(grid(2), clock=clock).ready()
    # Written in both orders, so that a fresh record comes first in one of the two runs.
    for rid, at in ([("FRESH", t0 + timedelta(minutes=10)), ("STALE", t0)] if fresh_first
                    else [("STALE", t0), ("FRESH", t0 + timedelta(minutes=10))]):
        clock.now = at
        assert await w.service.repo.start(pending(w, rid), None) is not None
    now = t0 + timedelta(minutes=12)
    assert await settle_stale(w.service, now, STALE) == 1
    assert (await stored(w, "STALE")).state is ReservationState.FAILED
    assert (await stored(w, "FRESH")).state is ReservationState.PENDING


async def test_a_connecting_charger_gets_only_its_own_withdrawals_and_offline_ones_wait(
        ) -> None:
    clock = ManualClock()
    w = await World(grid(4), clock=clock).ready()
    await crash_mid_reserve_now(w, "R1", evse_uid="E000")  # CP000
    await crash_mid_reserve_now(w, "R2", evse_uid="E002")  # CP001
    w.chargers.offline.update({"CP000", "CP001"})
    # Stale now; FAILED, but the targets stay (the chargers may hold them).
    later = clock.now + timedelta(hours=1)
    assert await settle_stale(w.service, later, STALE) == 0  # still unsettled: not counted
    for rid in ("R1", "R2"):
        left = await stored(w, rid)
        assert left.state is ReservationState.FAILED and left.unsettled
    w.chargers.offline.clear()
    tried = len(w.chargers.cancels())  # the ones the offline chargers did not answer

    assert await w.service.recovery.sweep("CP001") == 1
    assert [c.charge_point_id for c in w.chargers.cancels()[tried:]] == ["CP001"]
    assert not (await stored(w, "R2")).unsettled
    assert (await stored(w, "R1")).unsettled
    assert await w.service.recovery.sweep("CP000") == 1
    assert [c.charge_point_id for c in w.chargers.cancels()[tried:]] == ["CP001", "CP000"]
    assert not (await stored(w, "R1")).unsettled


async def test_a_charger_sweep_leaves_live_records_alone() -> None:
    clock = ManualClock()
    w = await World(grid(2), clock=clock).ready()
    await crash_mid_reserve_now(w)
    left = await stored(w)
    assert left.live and left.attempt is not None
    # Stale as well: only the periodic sweep settles a live record.
    assert await settle_stale(w.service, clock.now + timedelta(hours=1), STALE,
                              left.attempt.charge_point_id) == 0
    assert (await stored(w)).state is ReservationState.PENDING
    assert w.chargers.cancels() == []


async def write_attempt(w: World, r: Reservation, target: ChargerTarget) -> None:
    """What a crash leaves: the target written, the ReserveNow's answer never handled."""
    await w.store.put(COLLECTION, r.key, replace(r, attempt=target).to_doc())


async def test_a_reserve_now_to_its_own_evse_is_withdrawn_and_its_hold_kept() -> None:
    w = await World(grid(2)).ready()
    made = (await w.reserve("R1", evse_uid="E000")).reservation
    assert made is not None and made.ocpp_reservation_id is not None
    assert made.charge_point_id is not None
    again = ChargerTarget(location_id="LOC1", evse_uid="E000",
                          charge_point_id=made.charge_point_id,
                          ocpp_reservation_id=made.ocpp_reservation_id + 1, evse_id=1,
                          sent_at=made.updated_at)
    await write_attempt(w, made, again)
    settled = await w.service.settle_abandoned(EMSP, "R1")
    assert settled is not None and settled.state is ReservationState.ACTIVE
    assert settled.attempt is None
    assert [c.reservation_id for c in w.chargers.cancels()] == [again.ocpp_reservation_id]
    assert await w.holders() == {"E000": "NL-EXA/R1"}


async def test_an_attempt_the_record_already_stands_on_is_settled_as_it_stands() -> None:
    w = await World(grid(2)).ready()
    made = (await w.reserve("R1", evse_uid="E000")).reservation
    assert made is not None and made.ocpp_reservation_id is not None
    assert made.charge_point_id is not None
    own = ChargerTarget(location_id="LOC1", evse_uid="E000",
                        charge_point_id=made.charge_point_id,
                        ocpp_reservation_id=made.ocpp_reservation_id, evse_id=1,
                        sent_at=made.updated_at)
    await write_attempt(w, made, own)
    settled = await w.service.settle_abandoned(EMSP, "R1")
    assert settled is not None and settled.attempt is None
    assert settled == await stored(w)
    assert w.chargers.cancels() == []  # it stands: nothing withdrawn
    assert await w.holders() == {"E000": "NL-EXA/R1"}


async def put_legacy_pending(w: World, rid: str) -> None:
    """A PENDING record as the version before the ``unsettled`` field wrote it."""
    record = replace(pending(w, rid), updated_at=utc_now() - timedelta(days=1))
    doc = record.to_doc()
    del doc["unsettled"], doc["attempt"]
    await w.store.put(COLLECTION, record.key, doc)


async def test_the_sweeper_looks_for_legacy_records_at_its_first_run_only() -> None:
    w = await World(grid(1)).ready()
    sweeper = RecoverySweeper(w.service, stale_after=300)
    await put_legacy_pending(w, "OLD")
    assert await sweeper.loop.run_once()
    assert (await stored(w, "OLD")).state is ReservationState.FAILED
    await put_legacy_pending(w, "OLDER")
    assert await sweeper.loop.run_once()
    # Only a record a crash before the upgrade left has no field: the later runs skip it.
    assert (await stored(w, "OLDER")).state is ReservationState.PENDING


async def test_the_sweeper_runs_once_started_and_ends_when_stopped() -> None:
    w = await World(grid(1)).ready()
    failed = asyncio.Event()

    async def listen(r: Reservation, previous: ReservationState) -> None:
        if r.reservation_id == "OLD" and r.state is ReservationState.FAILED:
            failed.set()

    w.service.add_listener(listen)
    await put_legacy_pending(w, "OLD")
    sweeper = RecoverySweeper(w.service, stale_after=300, interval=3600)
    sweeper.start()
    try:
        await asyncio.wait_for(failed.wait(), timeout=30)
    finally:
        await sweeper.stop()
    assert not sweeper.loop.running


async def test_a_record_another_instance_ended_first_is_answered_as_it_left_it() -> None:
    w, racing = await racing_world(
        lambda key, doc: last_reason(doc) == "its worker stopped before a charger accepted",
        cancelled_by_another_instance)
    assert await w.service.repo.start(pending(w, "R1"), None) is not None
    settled = await w.service.settle_abandoned(EMSP, "R1")
    assert racing.raced
    assert settled is not None and settled.state is ReservationState.CANCELLED
    assert settled == await stored(w)
