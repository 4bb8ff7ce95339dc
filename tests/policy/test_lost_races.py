"""A reserve attempt that loses a compare-and-set to another writer (another gateway instance
cancelling, or starting the same reservation id) at each of its writes: nothing is sent that
the record does not stand on, and what the attempt took (its hold, its cap slot, a charger's
reservation) is given back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ocpi_gateway.domain.charger_commands import CancelReservation, ReserveNow
from ocpi_gateway.domain.store import Document
from ocpi_gateway.reservation_policy.lifecycle import ReserveOutcome
from ocpi_gateway.reservation_policy.partner_cap import COLLECTION as CAP_SLOTS
from ocpi_gateway.reservation_policy.records import (
    COLLECTION,
    Reservation,
    ReservationRepository,
    ReservationState,
)
from ocpi_gateway.store.sqlite import SqliteStore
from tests.policy.support import grid
from tests.policy.world import World

Race = Callable[[SqliteStore, str], Awaitable[None]]


class RacingStore:
    """The real store; once, just before the write that ``when`` picks, ``race`` makes another
    writer's real write to the same record first."""

    def __init__(self, inner: SqliteStore, when: Callable[[str, Document], bool],
                 race: Race) -> None:
        self._inner, self._when, self._race = inner, when, race
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _maybe_race(self, collection: str, key: str, doc: Document) -> None:
        if not self.raced and collection == COLLECTION and self._when(key, doc):
            self.raced = True
            await self._race(self._inner, key)

    async def insert(self, collection: str, key: str, doc: Document) -> bool:
        await self._maybe_race(collection, key, doc)
        return await self._inner.insert(collection, key, doc)

    async def replace_if(self, collection: str, key: str, doc: Document, *,
                         expected: dict[str, Any]) -> bool:
        await self._maybe_race(collection, key, doc)
        return await self._inner.replace_if(collection, key, doc, expected=expected)


def last_reason(doc: Document) -> str:
    return str(doc["history"][-1]["reason"])


async def cancelled_by_another_instance(store: SqliteStore, key: str) -> None:
    repo = ReservationRepository(store)
    current = await repo.get(key)
    assert current is not None
    assert await repo.transition(current, ReservationState.CANCELLED, reason="other instance")


async def racing_world(when: Callable[[str, Document], bool], race: Race,
                       **policy: Any) -> tuple[World, RacingStore]:
    w = await World(grid(2), **policy).ready()
    racing = RacingStore(w.store, when, race)
    w.store = racing  # type: ignore[assignment]
    w.service = w.new_service()
    w.service.add_listener(w._listen)
    return w, racing


async def test_the_same_id_started_by_another_instance_first() -> None:
    async def started_elsewhere(store: SqliteStore, key: str) -> None:
        other = Reservation.from_doc({**first_doc, "token_uid": "OTHER"})
        assert await store.insert(COLLECTION, key, other.to_doc())

    first_doc: Document = {}

    def when(key: str, doc: Document) -> bool:
        first_doc.update(doc)
        return last_reason(doc) == "created"

    w, racing = await racing_world(when, started_elsewhere)
    result = await w.reserve("R1")
    assert racing.raced
    assert result.outcome is ReserveOutcome.REJECTED
    assert result.message == "a request with this reservation_id is in progress"
    assert w.chargers.sent == [] and await w.holders() == {}


async def test_a_cap_slot_claimed_for_a_record_cancelled_meanwhile_is_given_back() -> None:
    w, racing = await racing_world(lambda key, doc: last_reason(doc) == "partner cap slot",
                                   cancelled_by_another_instance, max_concurrent_per_emsp=1)
    result = await w.reserve("R1")
    assert racing.raced
    assert result.outcome is ReserveOutcome.REJECTED
    assert w.chargers.sent == []
    [slot] = await w.store.find(CAP_SLOTS)
    assert slot["reservation_key"] == ""  # free for the next one at once
    assert (await w.reserve("R2")).outcome is ReserveOutcome.ACCEPTED


async def test_no_reserve_now_goes_out_for_a_record_cancelled_before_it_is_sent() -> None:
    w, racing = await racing_world(lambda key, doc: last_reason(doc) == "ReserveNow sent",
                                   cancelled_by_another_instance)
    result = await w.reserve("R1")
    assert racing.raced
    assert result.outcome is not ReserveOutcome.ACCEPTED
    assert [c for c in w.chargers.sent if isinstance(c, ReserveNow)] == []
    assert await w.holders() == {}  # the hold taken for it is given back
    # It stopped there: no other EVSE of the location was tried for the ended record (each
    # try takes an OCPP id of the charger, CP000 for both EVSEs).
    assert await w.service.ids.next("CP000") == 2
    r = await w.service.repo.get("NL-EXA/R1")
    assert r is not None and r.state is ReservationState.CANCELLED


async def test_an_accept_for_a_record_cancelled_meanwhile_is_withdrawn() -> None:
    w, racing = await racing_world(lambda key, doc: last_reason(doc) == "accepted by charger",
                                   cancelled_by_another_instance)
    result = await w.reserve("R1")
    assert racing.raced
    assert result.outcome is ReserveOutcome.REJECTED
    assert result.message == "the reservation was cancelled meanwhile"
    assert len(result.charger_outcomes) == 1
    await w.service.drain()
    [reserve_now] = [c for c in w.chargers.sent if isinstance(c, ReserveNow)]
    assert w.chargers.cancels() == [CancelReservation(
        charge_point_id=reserve_now.charge_point_id,
        reservation_id=reserve_now.reservation_id)]
    assert await w.holders() == {}
    assert w.seen == []  # no listener hears of an activation that did not happen


async def test_a_move_accepted_for_a_reservation_cancelled_meanwhile_is_withdrawn() -> None:
    w, racing = await racing_world(lambda key, doc: last_reason(doc) == "replaced",
                                   cancelled_by_another_instance)
    first = await w.reserve("R1")
    assert first.evse_uid == "E000"
    moved = await w.reserve("R1", evse_uid="E001")
    assert racing.raced
    assert moved.outcome is ReserveOutcome.REJECTED
    assert moved.message == "the reservation ended meanwhile"
    await w.service.drain()
    [_, new] = w.chargers.reserve_nows()
    assert w.chargers.cancels() == [CancelReservation(charge_point_id=new.charge_point_id,
                                                      reservation_id=new.reservation_id)]
    assert "E001" not in await w.holders()


async def test_an_update_in_place_for_a_reservation_cancelled_meanwhile_is_rejected() -> None:
    w, racing = await racing_world(lambda key, doc: last_reason(doc) == "replaced in place",
                                   cancelled_by_another_instance)
    first = await w.reserve("R1", minutes=20)
    assert first.evse_uid == "E000"
    again = await w.reserve("R1", minutes=40)
    assert racing.raced
    assert again.outcome is ReserveOutcome.REJECTED
    assert again.message == "the reservation ended meanwhile"
    assert len(again.charger_outcomes) == 1
    r = await w.service.repo.get("NL-EXA/R1")
    assert r is not None and r.state is ReservationState.CANCELLED
