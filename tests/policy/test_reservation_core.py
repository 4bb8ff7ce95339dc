"""The reservation core's per-reservation lock and the partner cap's slots (core.py)."""

from __future__ import annotations

import asyncio

from ocpi_gateway.domain.events import TransactionStarted
from ocpi_gateway.reservation_policy.engine import RefusalReason
from ocpi_gateway.reservation_policy.lifecycle import CancelOutcome, ReserveOutcome
from ocpi_gateway.reservation_policy.partner_cap import COLLECTION as CAP_SLOTS
from tests.policy.support import grid
from tests.policy.world import EMSP, World


async def test_a_live_reservation_keeps_its_cap_slot_and_an_ended_one_frees_it() -> None:
    w = await World(grid(4), max_concurrent_per_emsp=1).ready()
    first = await w.reserve("R1")
    assert first.outcome is ReserveOutcome.ACCEPTED
    second = await w.reserve("R2")
    assert second.outcome is ReserveOutcome.REJECTED
    assert second.refusal is not None
    assert second.refusal.reason is RefusalReason.PARTNER_CAP_REACHED
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
    assert core._locks == {}  # nobody holds or waits: the entry is gone
