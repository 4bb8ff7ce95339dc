"""Randomized, across two gateway instances sharing one real redis-server (availability and
the capacity timeline) and one durable store, on a clock the test moves: seeded streams of
booking requests, changes and cancellations (through the intake), RESERVE_NOWs and their
cancellations, faults and repairs, walk-in sessions and sessions on bound bookings, with both
instances' binders and expiry clocks running at every tick. After every step:

- at no instant is more promised than the site can serve (the promises on the timeline fit
  by the brute-force matching oracle, walk-in reserve included), and every RESERVED booking
  has its promise there;
- no EVSE is bound twice (live reservations, bound bookings), and every bound booking's EVSE
  is held by its binding;

and at the end, with the clock past every slot, every booking is in a final state."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest

from ocpi_gateway.domain.events import (
    ConnectorStatus,
    ConnectorStatusChanged,
    TransactionStarted,
)
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability
from ocpi_gateway.reservation_policy.bookings.intake import BookingIntake
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.records import BookingChoice, Cancellation
from ocpi_gateway.reservation_policy.bookings.states import (
    FINAL_STATES,
    BookingState,
    CanceledBy,
    CancelReason,
)
from ocpi_gateway.reservation_policy.capacity.base import PromiseKind
from ocpi_gateway.reservation_policy.capacity.classes import supply_of
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity
from ocpi_gateway.reservation_policy.models import ReservationRequest
from ocpi_gateway.reservation_policy.records import ReservationRepository
from ocpi_gateway.store.sqlite import SqliteStore
from tests.bookings.binding import BindingSite, Instance
from tests.bookings.support import EMSP, T0, Clock, ask, policy_source
from tests.capacity import oracle
from tests.policy.support import CCS, T2, evse

CANDIDATES = [evse("E000", "CP000", connectors=(T2,)), evse("E001", "CP001", connectors=(T2,)),
              evse("E002", "CP002", connectors=(T2,)),
              evse("E003", "CP003", connectors=(CCS,)), evse("E004", "CP004", connectors=(CCS,))]
CP_OF = {c.evse_uid: c.charge_point_id for c in CANDIDATES}
NEEDS = [(), ("IEC_62196_T2",), ("IEC_62196_T2_COMBO",)]
CANCEL = Cancellation(CancelReason.TRAFFIC, CanceledBy.EMSP)


@pytest.fixture
async def shared() -> AsyncIterator[DocumentStore]:
    store = await SqliteStore.open(":memory:")
    yield store
    await store.close()


class Stream:
    def __init__(self, site: BindingSite, instances: list[Instance], seed: int) -> None:
        self.site = site
        self.instances = instances
        self.rng = random.Random(seed)
        self.intakes = [BookingIntake(i.bookings) for i in instances]
        self.requests: list[str] = []
        self.rsv: list[str] = []
        self.charging: dict[str, int] = {}
        """EVSE → the tick its walk-in session ends."""
        self.broken: dict[str, int] = {}
        self.comes: dict[str, bool] = {}
        self.tick = 0

    def minutes_from_t0(self) -> float:
        return (self.site.clock.now - T0).total_seconds() / 60

    async def step(self, n: int) -> None:
        rng = self.rng
        i = rng.randrange(2)
        gw, intake = self.instances[i], self.intakes[i]
        roll = rng.random()
        now = self.minutes_from_t0()
        if roll < 0.30:
            rid = f"B{n}"
            start = (int(now) // 5 + rng.randrange(4, 40)) * 5
            choice = BookingChoice(connector_types=rng.choice(NEEDS))
            await intake.submit(EMSP, ask(rid, start=start, minutes=rng.choice([15, 30, 45]),
                                          choice=choice))
            self.requests.append(rid)
        elif roll < 0.40 and self.requests:
            rid = rng.choice(self.requests)
            current = await gw.bookings.ledger.get(f"{EMSP.key}/{rid.upper()}")
            if current is not None and current.live:
                shift = rng.choice([-10, -5, 5, 10, 15])
                start = max((int(now) // 5 + 20) * 5,
                            (current.start - T0).total_seconds() / 60 + shift)
                await intake.submit(EMSP, ask(rid, start=start, minutes=30,
                                              choice=current.choice))
        elif roll < 0.47 and self.requests:
            rid = rng.choice(self.requests)
            current = await gw.bookings.ledger.get(f"{EMSP.key}/{rid.upper()}")
            if current is not None and current.live:
                await intake.submit(EMSP, replace(ask(rid, start=(current.start - T0)
                                                      .total_seconds() / 60),
                                                  canceled=CANCEL))
        elif roll < 0.57:
            rid = f"N{n}"
            request = ReservationRequest(
                "LOC1", None, EMSP, f"TOKN{n}",
                self.site.clock.now + timedelta(minutes=rng.choice([5, 10, 20, 40])))
            await gw.reservations.reserve(request, rid, time_budget=1.0)
            self.rsv.append(rid)
        elif roll < 0.62 and self.rsv:
            await gw.reservations.cancel(EMSP, rng.choice(self.rsv))
        elif roll < 0.67:
            uid = rng.choice(CANDIDATES).evse_uid
            if uid not in self.broken:
                self.broken[uid] = self.tick + rng.randrange(1, 6)
                await self.site.set_status(uid, EvseStatus.OUTOFORDER)
                await self._event(uid, ConnectorStatus.FAULTED)
        elif roll < 0.75:
            held = await self.site.avail.location("LOC1")
            free = [u for u, a in sorted(held.items())
                    if a.status is EvseStatus.AVAILABLE and not a.holder]
            if free:  # a walk-in driver
                uid = rng.choice(free)
                self.charging[uid] = self.tick + rng.randrange(1, 5)
                await self.site.set_status(uid, EvseStatus.CHARGING)
        elif roll < 0.85:
            await self._use_a_bound_booking()
        else:
            await self._advance()
        await asyncio.gather(*(g.reservations.drain() for g in self.instances))

    async def _event(self, uid: str, status: ConnectorStatus) -> None:
        # A charger's events reach the instance it is connected to: always the same one.
        owner = self.instances[int(uid[-1]) % 2]
        await owner.event(ConnectorStatusChanged(charge_point_id=CP_OF[uid], evse_id=1,
                                                 connector_id=1, status=status))

    async def _use_a_bound_booking(self) -> None:
        """Drivers of bound bookings arrive (each decided once: 20 % never come)."""
        ledger = self.instances[0].bookings.ledger
        bound = [b for b in await ledger.live(state=BookingState.RESERVED.value) if b.bound]
        for b in sorted(bound, key=lambda x: x.key):
            comes = self.comes.setdefault(b.key, self.rng.random() < 0.8)
            if not comes or self.rng.random() < 0.5:
                continue
            assert b.evse_uid is not None and b.charge_point_id is not None
            assert b.ocpp_reservation_id is not None
            owner = self.instances[int(b.evse_uid[-1]) % 2]
            self.site.chargers.consume(b.charge_point_id, b.ocpp_reservation_id)
            await owner.event(TransactionStarted(
                charge_point_id=b.charge_point_id, transaction_id=f"T-{b.id}", evse_id=1,
                connector_id=1, id_token=b.tokens[0].uid,
                reservation_id=b.ocpp_reservation_id))
            self.charging[b.evse_uid] = self.tick + self.rng.randrange(1, 5)
            await self.site.set_status(b.evse_uid, EvseStatus.CHARGING)

    async def _advance(self, minutes: int | None = None) -> None:
        self.site.clock.advance(minutes or self.rng.randrange(1, 11))
        self.tick += 1
        for uid, until in list(self.charging.items()):
            if until <= self.tick:
                del self.charging[uid]
                await self.site.set_status(uid, EvseStatus.AVAILABLE)
        for uid, until in list(self.broken.items()):
            if until <= self.tick:
                del self.broken[uid]
                await self.site.set_status(uid, EvseStatus.AVAILABLE)
                await self._event(uid, ConnectorStatus.AVAILABLE)
        await asyncio.gather(*(g.reservations.expire_due() for g in self.instances))
        await asyncio.gather(*(g.binder.run() for g in self.instances))
        await asyncio.gather(*(g.reservations.drain() for g in self.instances))

    async def check(self) -> None:
        site = self.site
        now = site.clock.now
        promises = await site.timeline.promises("LOC1", now - timedelta(days=1),
                                                now + timedelta(days=2))
        # The cars charging are no promise: unchecked, they may exceed what is left.
        live_promises = [p for p in promises if p.end > now
                         and p.kind is not PromiseKind.SESSION]
        reserve = site.policy.effective("LOC1", EMSP).walk_in_reserve
        assert oracle.fits(supply_of(CANDIDATES), live_promises, reserve), live_promises
        ids = {p.promise_id for p in promises}
        ledger = BookingLedger(site.store, clock=site.clock)
        reserved = await ledger.live(state=BookingState.RESERVED.value)
        for b in reserved:
            if b.end + timedelta(minutes=b.terms.turnover_buffer_minutes) > now:
                assert b.promise_id in ids, b.ids
        live = await ReservationRepository(site.store).live()
        held = [r.evse_uid for r in live if r.evse_uid is not None and r.state.value
                != "PENDING"]
        assert len(held) == len(set(held)), held
        bound = [b.evse_uid for b in reserved if b.bound]
        assert len(bound) == len(set(bound)), bound
        holders = await site.avail.location("LOC1")
        for b in reserved:
            if b.bound:
                r = await site.reservation(b)
                assert r is not None and r.evse_uid == b.evse_uid, (b.ids, r)
                if r.live:
                    assert holders[b.evse_uid].holder == r.key, (b.ids, holders[b.evse_uid])


@pytest.mark.parametrize("seed", range(6))
async def test_two_instances_never_overbook_never_bind_twice_and_end_every_booking(
        shared: DocumentStore, redis_server: str, seed: int) -> None:
    clock = Clock()
    avail = [RedisAvailability.from_url(redis_server, clock=clock) for _ in range(2)]
    timelines = [RedisCapacity.from_url(redis_server, clock=clock) for _ in range(2)]
    await timelines[0]._redis.flushall()
    policy = policy_source(timeslot_increment_minutes=5, cancel_until_minutes=0,
                           change_until_minutes=0, max_duration_minutes=120,
                           walk_in_reserve=seed % 2)
    site = await BindingSite(shared, avail[0], timelines[0], clock, candidates=CANDIDATES,
                             policy=policy).ready()
    instances = [site.instance(charger_timeout=0.3)]
    # The second instance: its own Redis clients, the same server and store.
    site.avail, site.timeline = avail[1], timelines[1]
    instances.append(site.instance(charger_timeout=0.3))
    site.chargers.jitter = 0.002
    stream = Stream(site, instances, seed)
    try:
        for n in range(90):
            await stream.step(n)
            await stream.check()
        for _ in range(60):  # past every slot: everything ends
            await stream._use_a_bound_booking()
            await stream._advance(5)
            await stream.check()
        ledger = BookingLedger(shared, clock=clock)
        left = await ledger.live()
        assert left == [], [b.ids | {"state": b.state.value} for b in left]
        total = await ledger.count()
        assert total > 10
        ended = {s: await ledger.count(state=s.value) for s in FINAL_STATES}
        assert ended[BookingState.FULFILLED] > 0, ended
        assert sum(ended.values()) == total
    finally:
        await site.close()
        for a in avail:
            await a.close()
        for t in timelines:
            await t.close()

