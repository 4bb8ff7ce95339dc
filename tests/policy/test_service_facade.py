"""The reservation service's own steps (lifecycle.py): waiting for availability rebuilt after
a Redis restart (within the time budget, twice at most, settling what an interrupted attempt
left), a booking's binding meeting a record already there, the CPO's cancel, the live
reservations of a location."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ocpi_gateway.reservation_policy.attempts import new_record
from ocpi_gateway.reservation_policy.availability.base import AvailabilityRebuilding
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.lifecycle import CancelOutcome, ReserveOutcome
from ocpi_gateway.reservation_policy.records import ReservationState
from tests.policy.support import grid, set_all
from tests.policy.world import EMSP, World

KEY = "NL-EXA/R1"


class Rebuilding(MemoryAvailability):
    """Availability that is not ready (``is_ready``), or that finds itself being rebuilt in the
    middle of the next ``rebuilds`` picks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.is_ready = True
        self.rebuilds = 0
        self.waits: list[float] = []
        self.picks = 0

    async def wait_ready(self, timeout: float) -> bool:  # noqa: ASYNC109
        self.waits.append(timeout)
        return self.is_ready

    async def pick_and_hold(self, *args: Any, **kwargs: Any) -> str | None:
        self.picks += 1
        if self.rebuilds:
            self.rebuilds -= 1
            raise AvailabilityRebuilding()
        return await super().pick_and_hold(*args, **kwargs)


async def rebuilding_world() -> tuple[World, Rebuilding]:
    w = await World(grid(2)).ready()
    avail = Rebuilding()
    await set_all(avail, w.candidates)
    w.avail = avail
    w.service = w.new_service()
    return w, avail


async def test_availability_not_rebuilt_within_the_budget_refuses_at_once() -> None:
    w, avail = await rebuilding_world()
    avail.is_ready = False
    result = await w.reserve(budget=2.0)
    assert result.outcome is ReserveOutcome.REJECTED
    assert result.message.startswith("availability is being rebuilt after a Redis restart")
    assert len(avail.waits) == 1  # not waited for again
    assert 0 < avail.waits[0] <= 2.0  # what is left of the budget
    assert w.chargers.sent == [] and await w.service.get(EMSP, "R1") is None


async def test_an_attempt_cut_by_a_rebuild_is_settled_and_made_again() -> None:
    w, avail = await rebuilding_world()
    avail.rebuilds = 1
    result = await w.reserve()
    assert result.outcome is ReserveOutcome.ACCEPTED
    assert avail.picks == 2
    assert result.reservation is not None
    # The first record was settled (FAILED) and the second made over it, from scratch.
    assert [e["reason"] for e in result.reservation.history] == [
        "created", "ReserveNow sent", "accepted by charger"]


async def test_a_rebuild_during_both_tries_refuses_after_the_second() -> None:
    w, avail = await rebuilding_world()
    avail.rebuilds = 5
    result = await w.reserve()
    assert result.outcome is ReserveOutcome.REJECTED
    assert result.message.startswith("availability is being rebuilt after a Redis restart")
    assert avail.picks == 2
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.FAILED  # settled, nothing held
    assert w.chargers.sent == []


async def test_a_booking_s_binding_meeting_a_record_already_there() -> None:
    w = await World(grid(2)).ready()
    made = await w.reserve("R1")
    assert made.reservation is not None
    bound = await w.service.reserve(replace(w.request(), booking_key="B1"), "R1",
                                    time_budget=2)
    # Made meanwhile (another instance, an earlier run): it stands, never replaced.
    assert bound.outcome is ReserveOutcome.ACCEPTED and bound.reservation == made.reservation
    assert len(w.chargers.reserve_nows()) == 1
    pending = new_record("NL-EXA/R2", "R2", w.request())
    assert await w.service.repo.start(pending, None) is not None
    busy = await w.service.reserve(replace(w.request(), booking_key="B2"), "R2",
                                   time_budget=2)
    assert busy.outcome is ReserveOutcome.REJECTED
    assert busy.message == "a request with this reservation_id is in progress"


async def test_the_cpo_s_cancel_ends_it_removed_and_the_location_s_live_list() -> None:
    w = await World(grid(2)).ready()
    assert (await w.reserve("R1")).outcome is ReserveOutcome.ACCEPTED
    assert (await w.reserve("R2")).outcome is ReserveOutcome.ACCEPTED
    assert sorted(r.reservation_id for r in await w.service.live_at_location("LOC1")) == [
        "R1", "R2"]
    assert await w.service.live_at_location("LOC9") == []
    result = await w.service.cancel_by_cpo(KEY, reason="cancelled by the operator o")
    assert result.outcome is CancelOutcome.ACCEPTED
    assert result.reservation is not None
    assert result.reservation.state is ReservationState.REMOVED
    assert result.reservation.history[-1]["reason"] == "cancelled by the operator o"
    assert [r.reservation_id for r in await w.service.live_at_location("LOC1")] == ["R2"]
