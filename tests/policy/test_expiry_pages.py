"""The expiry clock ends every due reservation in one tick, however many pages of the store's
due query they fill (regression: a tick read one page of 100 and left the rest for later
ticks, one page a second behind)."""

from __future__ import annotations

from ocpi_gateway.reservation_policy.expiry import expire_due
from ocpi_gateway.reservation_policy.records import ReservationState
from tests.policy.support import grid
from tests.policy.world import EMSP, ManualClock, World

PAGE = 100
"""The page size the service's tick reads with."""


async def test_one_tick_expires_every_due_reservation_past_the_first_page() -> None:
    due = PAGE + 30
    clock = ManualClock()
    w = await World(grid(due + 1), clock=clock).ready()
    for i in range(due):
        assert (await w.reserve(f"R{i}", minutes=10)).reservation is not None
    assert (await w.reserve("LATER", minutes=40)).reservation is not None
    clock.advance(11 * 60)
    assert await w.service.expire_due() == due
    states = {r.reservation_id: r.state for r in await w.service.repo.live()}
    assert states == {"LATER": ReservationState.ACTIVE}
    for i in (0, PAGE - 1, PAGE, due - 1):
        r = await w.service.get(EMSP, f"R{i}")
        assert r is not None and r.state is ReservationState.EXPIRED
    assert set((await w.holders()).values()) == {"NL-EXA/LATER"}
    assert await w.service.expire_due() == 0


async def test_small_pages_walk_to_the_end_and_stop_at_now() -> None:
    clock = ManualClock()
    w = await World(grid(8), clock=clock).ready()
    for i in range(7):
        await w.reserve(f"R{i}", minutes=10 + i / 60)
    await w.reserve("LATER", minutes=12)
    clock.advance(11 * 60)
    assert await expire_due(w.service, clock(), page_size=2) == 7
    [left] = await w.service.repo.live()
    assert left.reservation_id == "LATER" and left.state is ReservationState.ACTIVE
