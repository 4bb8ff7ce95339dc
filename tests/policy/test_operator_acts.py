"""The reservation core's operator acts (``reservation_policy/acts.py``): a move goes through
the policy and the atomic hold (a busy or foreign target is refused, the reservation left as
it was), a new expiry is ReserveNow again with the same OCPP id and, longer, only where the
bookings' promises leave room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from ocpi_gateway.domain.charger_commands import CancelReservation, CommandOutcome, ReserveNow
from ocpi_gateway.reservation_policy.acts import ActOutcome
from ocpi_gateway.reservation_policy.attempts import new_record
from ocpi_gateway.reservation_policy.lifecycle import ReservationService, ReserveOutcome
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from tests.policy.test_capacity_gate import EMSP, Site

KEY = "NL-EXA/R1"


@pytest.fixture
async def two() -> AsyncIterator[Site]:
    s = Site(2, bookings=False)
    yield s
    await s.close()


@pytest.fixture
async def one() -> AsyncIterator[Site]:
    s = Site(1)
    yield s
    await s.close()


async def _reserved(site: Site, service: ReservationService, minutes: float,
                    rid: str = "R1") -> str:
    result = await service.reserve(site.request(minutes), rid, time_budget=2)
    assert result.outcome is ReserveOutcome.ACCEPTED, result
    assert result.evse_uid is not None
    return result.evse_uid


async def test_a_move_reserves_the_target_then_withdraws_the_old_one(two: Site) -> None:
    service = await two.start()
    first = await _reserved(two, service, 30)
    other = "E001" if first == "E000" else "E000"
    before = await service.get(EMSP, "R1")
    assert before is not None
    heard: list[tuple[str | None, ReservationState, ReservationState]] = []

    async def listener(r: Reservation, previous: ReservationState) -> None:
        heard.append((r.evse_uid, previous, r.state))

    service.add_listener(listener)
    moved = await service.move_by_cpo(KEY, other, reason="moved by the operator o",
                                      time_budget=2)
    # The listeners (the eMSP's session, metrics, the EVSE statuses) learn of the move.
    assert heard == [(other, ReservationState.ACTIVE, ReservationState.REROUTED)]
    assert moved.outcome is ActOutcome.DONE, moved.message
    assert moved.reservation is not None
    assert (moved.reservation.evse_uid, moved.reservation.state) == (
        other, ReservationState.REROUTED)
    assert moved.reservation.history[-1]["reason"] == "moved by the operator o"
    assert moved.charger_outcomes == ((other, CommandOutcome.ACCEPTED),)
    await service.drain()
    withdrawn = [c for c in two.chargers.sent if isinstance(c, CancelReservation)]
    assert [(c.charge_point_id, c.reservation_id) for c in withdrawn] == [
        (before.charge_point_id, before.ocpp_reservation_id)]
    held = await two.avail.location("LOC1")
    assert held[other].holder == KEY and held[first].holder is None


async def test_a_busy_foreign_or_same_target_is_refused_and_nothing_moves(two: Site) -> None:
    service = await two.start()
    first = await _reserved(two, service, 30)
    other = await _reserved(two, service, 30, "R2")
    sent = len(two.chargers.sent)
    busy = await service.move_by_cpo(KEY, other, reason="r", time_budget=2)
    assert busy.outcome is ActOutcome.REFUSED and f"EVSE {other} cannot take it" in busy.message
    for target, words in (("E999", "is not at location LOC1"), (first, "already")):
        refused = await service.move_by_cpo(KEY, target, reason="r", time_budget=2)
        assert refused.outcome is ActOutcome.REFUSED and words in refused.message
    assert len(two.chargers.sent) == sent  # no charger was asked
    kept = await service.get(EMSP, "R1")
    assert kept is not None and (kept.evse_uid, kept.state) == (first, ReservationState.ACTIVE)
    assert (await two.avail.location("LOC1"))[first].holder == KEY
    # The charger refusing the target: refused, the reservation where it was.
    await service.cancel(EMSP, "R2")
    target = next(c for c in two.candidates if c.evse_uid == other)
    two.chargers.script[(target.charge_point_id, target.address.evse_id,
                         target.address.connector_id)] = [CommandOutcome.REJECTED]
    no = await service.move_by_cpo(KEY, other, reason="r", time_budget=2)
    assert no.outcome is ActOutcome.REFUSED and "rejected" in no.message
    kept = await service.get(EMSP, "R1")
    assert kept is not None and kept.evse_uid == first and kept.attempt is None
    assert (await two.avail.location("LOC1"))[other].holder is None
    assert (await service.move_by_cpo("NL-EXA/NOPE", other, reason="r",
                                      time_budget=2)).outcome is ActOutcome.NOT_FOUND
    await service.cancel(EMSP, "R1")
    ended = await service.move_by_cpo(KEY, other, reason="r", time_budget=2)
    assert ended.outcome is ActOutcome.NOT_LIVE and "CANCELLED" in ended.message


async def test_a_longer_expiry_must_fit_beside_the_bookings(one: Site) -> None:
    service = await one.start()
    await one.book("b18", 30, 90)  # promised from now + 20 min
    await _reserved(one, service, 10)
    before = await service.get(EMSP, "R1")
    assert before is not None
    sent = len(one.chargers.sent)
    longer = await service.extend_by_cpo(KEY, one.minutes(20), reason="r", time_budget=2)
    assert longer.outcome is ActOutcome.REFUSED
    assert longer.message.startswith("the EVSE is promised to bookings")
    assert len(one.chargers.sent) == sent
    kept = await service.get(EMSP, "R1")
    assert kept is not None and kept.expiry == before.expiry
    promised = await one.timeline.promises("LOC1", one.minutes(0), one.minutes(200))
    ours = next(p for p in promised if p.promise_id != "b18")
    assert ours.end == one.minutes(20)  # still the 10 minutes + the buffer
    # Earlier is always possible: ReserveNow again with the same id, the promise shortened.
    shorter = await service.extend_by_cpo(KEY, one.minutes(5), reason="earlier",
                                          time_budget=2)
    assert shorter.outcome is ActOutcome.DONE, shorter.message
    assert shorter.reservation is not None and shorter.reservation.expiry == one.minutes(5)
    [again] = [c for c in one.chargers.sent[sent:] if isinstance(c, ReserveNow)]
    assert (again.reservation_id, again.expiry) == (before.ocpp_reservation_id,
                                                    one.minutes(5))
    promised = await one.timeline.promises("LOC1", one.minutes(0), one.minutes(200))
    assert next(p for p in promised if p.promise_id != "b18").end == one.minutes(15)
    past = await service.extend_by_cpo(KEY, one.minutes(-1), reason="r", time_budget=2)
    assert past.outcome is ActOutcome.REFUSED and "past" in past.message


async def test_a_longer_expiry_where_it_fits_and_a_charger_that_refuses(two: Site) -> None:
    service = await two.start()
    evse = await _reserved(two, service, 10)
    longer = await service.extend_by_cpo(KEY, two.minutes(60), reason="r", time_budget=2)
    assert longer.outcome is ActOutcome.DONE and longer.reservation is not None
    assert longer.reservation.expiry == two.minutes(60)
    held = (await two.avail.location("LOC1"))[evse]
    assert held.holder == KEY and held.hold_until == two.minutes(60)
    r = longer.reservation
    two.chargers.script[(str(r.charge_point_id), r.evse_id, r.connector_id)] = [
        CommandOutcome.REJECTED]
    refused = await service.extend_by_cpo(KEY, two.minutes(90), reason="r", time_budget=2)
    assert refused.outcome is ActOutcome.REFUSED and "rejected" in refused.message
    kept = await service.get(EMSP, "R1")
    assert kept is not None and kept.expiry == two.minutes(60)


async def test_a_reservation_still_being_made_is_not_moved_even_with_an_evse(two: Site) -> None:
    service = await two.start()
    # PENDING (its ReserveNow not answered yet), though an EVSE is on the record already.
    pending = replace(new_record(KEY, "R1", two.request(30)), evse_uid="E000",
                      charge_point_id="CP000")
    assert await service.repo.start(pending, None) is not None
    result = await service.move_by_cpo(KEY, "E001", reason="r", time_budget=2)
    assert result.outcome is ActOutcome.REFUSED
    assert result.message == f"reservation {KEY} is still being made at a charger; try again " \
                             "in a moment"
    assert two.chargers.sent == []
