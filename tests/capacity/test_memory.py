"""What only the in-process timeline does, and the version counting both share."""

from __future__ import annotations

from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline, Promise, Verdict
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity
from tests.capacity.support import Clock, ac, at

L = "LOC-M"


async def test_closing_the_in_process_timeline_forgets_every_site() -> None:
    timeline = MemoryCapacity(clock=Clock())
    await timeline.set_supply(L, [ac("A1")])
    assert (await timeline.admit(L, Promise("p", at(0), at(60)))).ok
    await timeline.close()
    assert await timeline.get(L, "p") is None
    assert (await timeline.admit(L, Promise("q", at(0), at(60)))).verdict \
        is Verdict.NO_INVENTORY


async def test_a_rebuild_or_a_restore_is_one_change_of_everything(
        timeline: CapacityTimeline) -> None:
    await timeline.set_supply(L, [ac("A1"), ac("A2")])
    before = (await timeline.changes(L, None)).version
    assert await timeline.rebuild(L, [Promise("a", at(0), at(60)),
                                      Promise("b", at(30), at(90))]) == 2
    rebuilt = await timeline.changes(L, before)
    assert (rebuilt.version, rebuilt.spans) == (before + 1, None)
    assert await timeline.restore(L, [ac("A1"), ac("A2")], [Promise("c", at(100), at(160)),
                                                            Promise("d", at(120), at(180))]) == 2
    restored = await timeline.changes(L, rebuilt.version)
    assert (restored.version, restored.spans) == (before + 2, None)


async def test_pruning_a_site_never_set_leaves_no_site_behind() -> None:
    # The prune loop asks of every location of the catalogue, most without bookings.
    timeline = MemoryCapacity(clock=Clock())
    assert await timeline.prune(L, at(60)) == 0
    assert L not in timeline._sites
