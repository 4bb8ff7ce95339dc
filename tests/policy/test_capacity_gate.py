"""RESERVE_NOW at a site where bookings are possible: the reservation is promised on the
capacity timeline from now to its expiry + the turnover buffer, only when the bookings still
fit (the EVSE needed at 18:00 is not given away at 17:30), and released on every end of the
reservation; concurrent attempts never overbook. Without bookings nothing changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline, Promise
from ocpi_gateway.reservation_policy.capacity.classes import Need, supply_of
from ocpi_gateway.reservation_policy.capacity.gate import (
    ReservationCapacity,
    reservation_promises,
)
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity
from ocpi_gateway.reservation_policy.engine import PolicyEngine, RefusalReason
from ocpi_gateway.reservation_policy.lifecycle import ReservationService, ReserveOutcome
from ocpi_gateway.reservation_policy.models import EvseCandidate, Partner, ReservationRequest
from ocpi_gateway.reservation_policy.policy import PolicySource, parse_policy
from ocpi_gateway.store.sqlite import SqliteStore
from tests.capacity import oracle
from tests.policy.support import CCS, SimChargers, StaticCandidates, evse, grid, set_all

EMSP = Partner("NL", "EXA")
BOOKINGS = {"enabled": True, "activation_lead_minutes": 10, "turnover_buffer_minutes": 10}


class Clock:
    def __init__(self) -> None:
        self.now = utc_now().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


class Site:
    def __init__(self, n: int, *, bookings: bool = True, walk_in: int = 0) -> None:
        self.clock = Clock()
        self.candidates: list[EvseCandidate] = grid(n, per_charger=1)
        defaults: dict[str, Any] = {"min_duration_minutes": 1, "walk_in_reserve": walk_in,
                                    "ordering": []}
        if bookings:
            defaults["bookings"] = BOOKINGS
        self.policy = PolicySource(policy=parse_policy({"defaults": defaults}))
        self.chargers = SimChargers()
        self.services: list[ReservationService] = []

    async def start(self, avail: AvailabilityStore | None = None,
                    timeline: CapacityTimeline | None = None) -> ReservationService:
        if not hasattr(self, "store"):
            self.store = await SqliteStore.open(":memory:")
        avail = avail or MemoryAvailability()
        await set_all(avail, self.candidates)
        self.avail = avail
        self.timeline = timeline or MemoryCapacity(clock=self.clock)
        engine = PolicyEngine(self.policy, avail, clock=self.clock,
                              capacity=ReservationCapacity(self.timeline, self.policy,
                                                           clock=self.clock))
        service = ReservationService(engine=engine, store=self.store, commands=self.chargers,
                                     candidates=StaticCandidates(self.candidates),
                                     charger_timeout=0.5, clock=self.clock)
        self.services.append(service)
        return service

    def minutes(self, m: float) -> datetime:
        return self.clock.now + timedelta(minutes=m)

    async def book(self, pid: str, start: float, end: float) -> None:
        await self.timeline.set_supply("LOC1", supply_of(self.candidates))
        answer = await self.timeline.admit("LOC1", Promise(pid, self.minutes(start - 10),
                                                           self.minutes(end + 10), Need()))
        assert answer.ok

    def request(self, minutes: float, token: str = "TOK") -> ReservationRequest:
        return ReservationRequest("LOC1", None, EMSP, token, self.minutes(minutes))

    async def close(self) -> None:
        for service in self.services:
            await service.aclose()
        await self.store.close()


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    s = Site(1)
    yield s
    await s.close()


async def test_the_evse_needed_later_is_not_given_away_now(site: Site) -> None:
    service = await site.start()
    await site.book("b18", 30, 90)  # promised from now + 20 min
    long = await service.reserve(site.request(20), "R1", time_budget=2)
    assert long.outcome is ReserveOutcome.REJECTED
    assert long.refusal is not None and long.refusal.reason is RefusalReason.PROMISED
    assert "full at" in long.message
    assert site.chargers.reserve_nows() == []
    assert not (await site.avail.location("LOC1"))["E000"].holder
    # Until now + 10 min, its buffer ends as the booking's promise begins: it fits.
    short = await service.reserve(site.request(10), "R2", time_budget=2)
    assert short.outcome is ReserveOutcome.ACCEPTED
    promised = await site.timeline.promises("LOC1", site.minutes(0), site.minutes(200))
    assert sorted(p.promise_id for p in promised) == ["NL-EXA/R2|E000", "b18"]
    ours = next(p for p in promised if p.promise_id != "b18")
    assert (ours.start, ours.end, ours.evse_uid) == (site.minutes(0), site.minutes(20), "E000")


async def test_every_end_of_the_reservation_releases_its_promise(site: Site) -> None:
    service = await site.start()

    async def promised() -> list[str]:
        return [p.promise_id for p in await site.timeline.promises(
            "LOC1", site.minutes(0), site.minutes(500))]

    assert (await service.reserve(site.request(30), "R1", time_budget=2)).outcome \
        is ReserveOutcome.ACCEPTED
    assert await promised() == ["NL-EXA/R1|E000"]
    await service.cancel(EMSP, "R1")
    assert await promised() == []
    # Refused by the charger: given back at once.
    site.chargers.script[("CP000", 1, None)] = [CommandOutcome.REJECTED]
    assert (await service.reserve(site.request(30), "R2", time_budget=2)).outcome \
        is ReserveOutcome.REJECTED
    assert await promised() == []
    # Expired by the gateway's clock.
    assert (await service.reserve(site.request(30), "R3", time_budget=2)).outcome \
        is ReserveOutcome.ACCEPTED
    site.clock.now += timedelta(minutes=31)
    assert await service.expire_due() == 1
    assert await promised() == []


async def test_a_longer_replacement_must_still_fit_and_the_old_one_stays(site: Site) -> None:
    service = await site.start()
    await site.book("b", 40, 90)  # promised from now + 30
    assert (await service.reserve(site.request(15), "R1", time_budget=2)).outcome \
        is ReserveOutcome.ACCEPTED
    sent = len(site.chargers.reserve_nows())
    longer = await service.reserve(site.request(30), "R1", time_budget=2)
    assert longer.outcome is ReserveOutcome.REJECTED
    assert longer.refusal is not None and longer.refusal.reason is RefusalReason.PROMISED
    assert len(site.chargers.reserve_nows()) == sent
    kept = await site.timeline.get("LOC1", "NL-EXA/R1|E000")
    assert kept is not None and kept.end == site.minutes(25)
    shorter = await service.reserve(site.request(5), "R1", time_budget=2)
    assert shorter.outcome is ReserveOutcome.ACCEPTED
    moved = await site.timeline.get("LOC1", "NL-EXA/R1|E000")
    assert moved is not None and moved.end == site.minutes(15)


async def test_a_longer_replacement_that_fits_keeps_its_promise_to_the_new_end(
        site: Site) -> None:
    service = await site.start()
    assert (await service.reserve(site.request(15), "R1", time_budget=2)).outcome \
        is ReserveOutcome.ACCEPTED
    longer = await service.reserve(site.request(30), "R1", time_budget=2)
    assert longer.outcome is ReserveOutcome.ACCEPTED
    # Its hold is taken again until the new expiry; the promise stays through it.
    promise = await site.timeline.get("LOC1", "NL-EXA/R1|E000")
    assert promise is not None and promise.end == site.minutes(40)
    hold = (await site.avail.location("LOC1"))["E000"]
    assert hold.holder == "NL-EXA/R1" and hold.hold_until == site.minutes(30)


async def test_without_bookings_the_timeline_is_never_asked() -> None:
    site = Site(1, bookings=False)

    class Untouchable(MemoryCapacity):
        async def amend(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the timeline was asked")

        async def release(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the timeline was asked")

    try:
        service = await site.start(timeline=Untouchable())
        result = await service.reserve(site.request(60), "R1", time_budget=2)
        assert result.outcome is ReserveOutcome.ACCEPTED
        await service.cancel(EMSP, "R1")
    finally:
        await site.close()


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_concurrent_attempts_never_overbook(backend: str,
                                                  request: pytest.FixtureRequest) -> None:
    site = Site(3, walk_in=0)
    try:
        if backend == "memory":
            first = await site.start()
            services = [first]
        else:
            url = request.getfixturevalue("redis_server")
            shared_avail = RedisAvailability.from_url(url)
            await shared_avail._redis.flushall()
            first = await site.start(shared_avail, RedisCapacity.from_url(url, clock=site.clock))
            second = await site.start(RedisAvailability.from_url(url),
                                      RedisCapacity.from_url(url, clock=site.clock))
            services = [first, second]
        # Two bookings from now + 20: of three EVSEs, one may be reserved past then.
        await site.book("b1", 30, 120)
        await site.book("b2", 30, 120)
        results = await asyncio.gather(*(
            services[i % len(services)].reserve(site.request(60, f"T{i}"), f"R{i}",
                                                time_budget=3)
            for i in range(6)))
        accepted = [r for r in results if r.outcome is ReserveOutcome.ACCEPTED]
        assert len(accepted) == 1
        # The others: REJECTED (promised to the bookings), or OCCUPIED when they found every
        # EVSE held for a moment by attempts the timeline then refused (a race costs a
        # refusal, never an overbooking).
        assert {r.outcome for r in results} <= {ReserveOutcome.ACCEPTED, ReserveOutcome.REJECTED,
                                                ReserveOutcome.OCCUPIED}
        assert any(r.outcome is ReserveOutcome.REJECTED for r in results)
        promised = await site.timeline.promises("LOC1", site.minutes(0), site.minutes(200))
        assert len(promised) == 3
        assert oracle.fits(supply_of(site.candidates), promised, 0)
        holders = [a.holder for a in (await site.avail.location("LOC1")).values() if a.holder]
        assert len(holders) == 1
    finally:
        for service in site.services:
            await service.engine.availability.close()
            assert service.engine.capacity is not None
            await service.engine.capacity.timeline.close()
        await site.close()


async def test_the_timeline_is_rebuilt_from_stored_reservations(redis_server: str) -> None:
    site = Site(2)
    try:
        avail = RedisAvailability.from_url(redis_server)
        await avail._redis.flushall()
        timeline = RedisCapacity.from_url(redis_server, clock=site.clock)
        service = await site.start(avail, timeline)
        assert (await service.reserve(site.request(30), "R1", time_budget=2)).outcome \
            is ReserveOutcome.ACCEPTED
        before = await timeline.promises("LOC1", site.minutes(0), site.minutes(100))
        await avail._redis.flushall()  # Redis lost everything
        assert await timeline.promises("LOC1", site.minutes(0), site.minutes(100)) == []
        rebuilt = reservation_promises(await service.repo.live(), site.policy, site.clock())
        for location_id, promises in rebuilt.items():
            await timeline.set_supply(location_id, supply_of(site.candidates))
            await timeline.rebuild(location_id, promises)
        assert await timeline.promises("LOC1", site.minutes(0), site.minutes(100)) == before
        # And admission sees it again: one EVSE of two is promised until now + 40.
        await site.book("b1", 20, 60)
        assert not (await timeline.admit("LOC1", Promise(
            "b2", site.minutes(10), site.minutes(50), Need()))).ok
    finally:
        for s in site.services:
            await s.engine.availability.close()
        await timeline.close()
        await site.close()


async def test_a_longer_replacement_the_charger_refuses_gives_back_the_longer_promise(
        site: Site) -> None:
    service = await site.start()
    first = await service.reserve(site.request(15), "R1", time_budget=2)
    assert first.outcome is ReserveOutcome.ACCEPTED and first.reservation is not None
    site.chargers.script[("CP000", 1, None)] = [CommandOutcome.REJECTED]
    longer = await service.reserve(site.request(30), "R1", time_budget=2)
    assert longer.outcome is ReserveOutcome.REJECTED
    assert longer.reservation == first.reservation  # unchanged
    assert longer.message == "the charger refused the update; the reservation is unchanged"
    # Promised to the new end before the charger was asked; back to the old end after.
    promise = await site.timeline.get("LOC1", "NL-EXA/R1|E000")
    assert promise is not None and promise.end == site.minutes(25)


async def test_an_evse_of_a_class_promised_to_bookings_gives_way_to_one_of_another_class(
        ) -> None:
    site = Site(0)
    # The fast one first in the plan, but a booking needs it (and only it) from now + 20 min.
    site.candidates = [evse("A-DC", "CP1", connectors=(CCS,)), evse("B-AC", "CP2")]
    try:
        service = await site.start()
        await site.timeline.set_supply("LOC1", supply_of(site.candidates))
        booked = await site.timeline.admit("LOC1", Promise(
            "dc-booking", site.minutes(20), site.minutes(90),
            Need(standards=frozenset({CCS.standard}))))
        assert booked.ok
        result = await service.reserve(site.request(30), "R1", time_budget=2)
        assert result.outcome is ReserveOutcome.ACCEPTED and result.evse_uid == "B-AC"
        assert [r.evse_id for r in site.chargers.reserve_nows()] == [1]
        assert site.chargers.reserve_nows()[0].charge_point_id == "CP2"
        assert not (await site.avail.location("LOC1"))["A-DC"].holder
    finally:
        await site.close()
