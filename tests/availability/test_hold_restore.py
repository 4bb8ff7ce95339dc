"""Putting back the holds Redis lost (``reservation_policy/hold_restore.py``), on a real
redis-server: what is put back is what live reservations and attempts in flight hold, and a
reservation that ends while its hold is being written does not keep the EVSE.

The regression: the Redis-restart property test found an EVSE held by a FAILED reservation for
its whole expiry after a rebuild, so the next trial's statuses never looked free. The attempt
had been answered OFFLINE, cut by the rebuild and failed (releasing nothing yet) after the
restorer had read it as live and before the restorer wrote its hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability
from ocpi_gateway.reservation_policy.hold_restore import restore_holds, wanted_holds
from ocpi_gateway.reservation_policy.records import (
    ChargerTarget,
    Reservation,
    ReservationRepository,
    ReservationState,
)
from ocpi_gateway.store.sqlite import SqliteStore

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
LOC = "LOC1"
UIDS = ("E1", "E2", "E3")


def _clock() -> datetime:
    return NOW


def _record(rid: str, *, state: ReservationState = ReservationState.ACTIVE,
            evse_uid: str | None = None, attempt_at: str | None = None,
            minutes: int = 30) -> Reservation:
    attempt = None if attempt_at is None else ChargerTarget(
        location_id=LOC, evse_uid=attempt_at, charge_point_id="CP1", ocpp_reservation_id=7,
        connector_id=1, sent_at=NOW)
    return Reservation(key=f"NL-EXA/{rid}", country_code="NL", party_id="EXA",
                       reservation_id=rid, location_id=LOC, token_uid="04A1B2C3D4",
                       token_type="ISO14443", expiry=NOW + timedelta(minutes=minutes),
                       state=state, evse_uid=evse_uid, attempt=attempt)


class World:
    def __init__(self, store: RedisAvailability, repo: ReservationRepository) -> None:
        self.avail = store
        self.repo = repo
        self.taken: dict[tuple[str, str], tuple[str, datetime]] = {}

    async def add(self, record: Reservation) -> Reservation:
        started = await self.repo.start(record, None)
        assert started is not None
        return started

    async def holders(self) -> dict[str, str]:
        seen = await self.avail.location(LOC)
        return {uid: a.holder for uid, a in seen.items() if a.holder is not None}

    async def restore(self) -> int:
        return await restore_holds(self.avail, self.repo, lambda: self.taken, NOW)


@pytest.fixture
async def world(redis_url: str) -> AsyncIterator[World]:
    avail = RedisAvailability(aioredis.from_url(redis_url), clock=_clock)
    for uid in UIDS:
        await avail.set_status(LOC, uid, EvseStatus.AVAILABLE, NOW)
    store = await SqliteStore.open(":memory:")
    yield World(avail, ReservationRepository(store, clock=_clock))
    await store.close()
    await avail.close()


async def test_live_reservations_and_attempts_in_flight_get_their_holds_back(
        world: World) -> None:
    await world.add(_record("ACTIVE", evse_uid="E1"))
    # A replacement in flight: its own EVSE and the one its ReserveNow went to.
    await world.add(_record("MOVING", evse_uid="E2", attempt_at="E3"))

    assert await world.restore() == 3
    assert await world.holders() == {"E1": "NL-EXA/ACTIVE", "E2": "NL-EXA/MOVING",
                                     "E3": "NL-EXA/MOVING"}


async def test_ended_and_expired_reservations_get_nothing_back(world: World) -> None:
    await world.add(_record("OVER", evse_uid="E1", minutes=-1))
    await world.add(_record("ENDS_NOW", evse_uid="E1", minutes=0))
    await world.add(_record("FAILED", state=ReservationState.FAILED, attempt_at="E2"))
    # An attempt of a reservation that is not live: its worker is gone.
    world.taken[(LOC, "E3")] = ("NL-EXA/FAILED", NOW + timedelta(minutes=30))

    assert await world.restore() == 0
    assert await world.holders() == {}


async def test_an_attempts_hold_not_yet_on_its_record_is_put_back(world: World) -> None:
    await world.add(_record("NEW", state=ReservationState.PENDING))
    world.taken[(LOC, "E2")] = ("NL-EXA/NEW", NOW + timedelta(minutes=30))

    assert await world.restore() == 1
    assert await world.holders() == {"E2": "NL-EXA/NEW"}


class EndsWhileRestored(RedisAvailability):
    """A worker ends its reservation, and releases what it holds (nothing yet), just before
    the restorer writes that reservation's hold."""

    def __init__(self, world: World, key: str, *, attempt_moves_on: bool = False) -> None:
        self.__dict__.update(world.avail.__dict__)
        self._world = world
        self._key = key
        self._moves_on = attempt_moves_on

    async def restore_hold(self, location_id: str, evse_uid: str, *, holder: str,
                           until: datetime) -> bool:
        if holder == self._key:
            record = await self._world.repo.get(holder)
            assert record is not None
            if self._moves_on:
                # The attempt's charger refused: its hold is released, the next one taken.
                del self._world.taken[(location_id, evse_uid)]
            elif record.live:
                ended = await self._world.repo.transition(
                    record, ReservationState.FAILED, reason="its worker stopped")
                assert ended is not None
            await self.release(location_id, evse_uid, holder=holder)
        return await super().restore_hold(location_id, evse_uid, holder=holder, until=until)


async def test_a_reservation_that_ends_while_its_hold_is_put_back_keeps_nothing(
        world: World) -> None:
    await world.add(_record("CUT", state=ReservationState.PENDING, attempt_at="E1"))
    await world.add(_record("STAYS", evse_uid="E2"))

    standing = await restore_holds(EndsWhileRestored(world, "NL-EXA/CUT"), world.repo,
                                   lambda: world.taken, NOW)

    assert standing == 1
    assert await world.holders() == {"E2": "NL-EXA/STAYS"}


async def test_an_attempts_hold_released_while_put_back_is_not_kept(world: World) -> None:
    await world.add(_record("NEW", state=ReservationState.PENDING))
    world.taken[(LOC, "E1")] = ("NL-EXA/NEW", NOW + timedelta(minutes=30))

    standing = await restore_holds(
        EndsWhileRestored(world, "NL-EXA/NEW", attempt_moves_on=True), world.repo,
        lambda: world.taken, NOW)

    assert standing == 0
    assert await world.holders() == {}


def test_a_hold_both_on_the_record_and_taken_is_put_back_once_with_the_records_end() -> None:
    record = _record("BOTH", state=ReservationState.PENDING, attempt_at="E1", minutes=20)
    taken = {(LOC, "E1"): (record.key, NOW + timedelta(minutes=45))}

    [hold] = wanted_holds([record], taken, NOW)

    assert (hold.location_id, hold.evse_uid, hold.holder) == (LOC, "E1", record.key)
    assert hold.until == record.ends_at
