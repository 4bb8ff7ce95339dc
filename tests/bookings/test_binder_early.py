"""The passes of a binder run at a site running short (one EVSE of two charging a walk-in):
an early try the charger refuses is not reported as bound early; a booking due now is tried
once per run (by the due pass), not a second time by the early one; one past its no-show
time in the due pages is left to the no-show pass and the ones after it are still bound."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from tests.bookings.binding import BindingSite
from tests.bookings.support import Clock, at


@pytest.fixture
async def site(store: DocumentStore, timeline: CapacityTimeline, clock: Clock
               ) -> AsyncIterator[BindingSite]:
    # Two EVSEs, one charging a walk-in: one booking due within the hour makes it short.
    s = await BindingSite(store, MemoryAvailability(clock=clock), timeline, clock).ready()
    await s.set_status("E000", EvseStatus.CHARGING)
    yield s
    await s.close()


def refuse_once(site: BindingSite, charge_point_id: str) -> None:
    # 2.0.1 EVSE 1 of its charger, as ``grid`` lays them out.
    site.chargers.script[(charge_point_id, 1, None)] = [CommandOutcome.REJECTED]


async def test_an_early_try_the_charger_refuses_is_not_bound_early(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    b = await site.book(gw)  # bound at 590
    refuse_once(site, "CP001")
    clock.now = at(561)
    report = await gw.binder.run()
    assert len(site.chargers.reserve_nows()) == 1  # the early try, refused
    assert report.early == [] and not (await site.booking(b.key)).bound
    clock.now = at(562)
    report = await gw.binder.run()
    assert report.early == [b.key] and (await site.booking(b.key)).evse_uid == "E001"


async def test_a_booking_due_now_is_tried_once_per_run(site: BindingSite, clock: Clock
                                                      ) -> None:
    gw = site.instance()
    b = await site.book(gw)
    refuse_once(site, "CP001")
    clock.now = at(590)
    report = await gw.binder.run()
    assert report.occupied == [b.key] and report.early == []
    assert len(site.chargers.reserve_nows()) == 1
    assert not (await site.booking(b.key)).bound
    clock.now = at(590 + 5 / 60)
    report = await gw.binder.run()
    assert report.bound == [b.key]


async def test_one_past_its_noshow_time_holds_up_no_booking_after_it(
        site: BindingSite, clock: Clock) -> None:
    gw = site.instance()
    missed = await site.book(gw, "R1")  # bound at 590, no-show at 615: never tried
    due = await site.book(gw, "R2", start=620)  # bound at 610
    clock.now = at(616)
    report = await gw.binder.run()
    assert report.bound == [due.key] and report.ended == [missed.key]
    assert (await site.booking(missed.key)).state is BookingState.CANCELED
