"""K concurrent reservations at a location with A free reservable EVSEs after the walk-in
reserve: exactly min(K, A) are accepted and no EVSE is held or reserved twice, in-process and
across two instances sharing Redis."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

import redis.asyncio as aioredis

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore, EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability
from ocpi_gateway.reservation_policy.engine import PolicyEngine
from ocpi_gateway.reservation_policy.lifecycle import ReservationService, ReserveOutcome
from ocpi_gateway.reservation_policy.models import Partner, ReservationRequest
from ocpi_gateway.reservation_policy.policy import PolicySource, parse_policy
from ocpi_gateway.store.sqlite import SqliteStore
from tests.policy.support import NOW, SimChargers, StaticCandidates, grid

PARTNERS = [Partner("NL", "EXA"), Partner("DE", "ABC"), Partner("FR", "XYZ")]


async def _run_once(rng: random.Random, run: int, stores: list[AvailabilityStore]
                    ) -> tuple[int, int]:
    """One randomized round; (accepted, min(K, A)) after checking no EVSE went twice."""
    location = f"LOC{run}"
    n = rng.randint(1, 12)
    walk_in = rng.randint(0, 3)
    per_charger = rng.randint(1, 3)
    candidates = grid(n, location=location, per_charger=per_charger)
    busy = {c.evse_uid for c in candidates if rng.random() < 0.25}
    for c in candidates:
        status = EvseStatus.CHARGING if c.evse_uid in busy else EvseStatus.AVAILABLE
        await stores[0].set_status(location, c.evse_uid, status, NOW)
    free = n - len(busy)
    capacity = max(0, free - walk_in)
    k = rng.randint(1, 15)

    policy = PolicySource(policy=parse_policy({"defaults": {
        "walk_in_reserve": walk_in, "min_duration_minutes": 1,
        "ordering": rng.sample(["single_connector", "least_recently_reserved",
                                "spread_across_chargers", "highest_power"], 2)}}))
    doc_store = await SqliteStore.open(":memory:")
    chargers = SimChargers(jitter=0.002, rng=random.Random(rng.random()))
    services = [ReservationService(engine=PolicyEngine(policy, store), store=doc_store,
                                   commands=chargers, candidates=StaticCandidates(candidates),
                                   charger_timeout=1.0)
                for store in stores]
    expiry = utc_now() + timedelta(minutes=30)

    async def one(i: int) -> tuple[ReserveOutcome, str | None]:
        await asyncio.sleep(rng.random() * 0.002)
        request = ReservationRequest(location, None, PARTNERS[i % len(PARTNERS)],
                                     f"TOKEN{i}", expiry)
        result = await services[i % len(services)].reserve(request, f"R{i}", time_budget=5.0)
        return result.outcome, result.evse_uid

    results = await asyncio.gather(*(one(i) for i in range(k)))
    accepted = [uid for outcome, uid in results if outcome is ReserveOutcome.ACCEPTED]
    context = f"run {run}: n={n} busy={len(busy)} walk_in={walk_in} k={k}"
    assert len(accepted) == min(k, capacity), context
    assert len(set(accepted)) == len(accepted), context
    assert not set(accepted) & busy, context
    assert {o for o, _ in results} <= {ReserveOutcome.ACCEPTED, ReserveOutcome.OCCUPIED}, context
    snapshot = await stores[-1].location(location)
    held = sorted(uid for uid, a in snapshot.items() if a.holder)
    assert held == sorted(accepted), context
    free_left = sum(1 for a in snapshot.values() if a.is_free)
    assert free_left >= min(walk_in, free), context
    per_target = Counter((cp, t) for (cp, _), t in chargers.reservations.items())
    assert all(count == 1 for count in per_target.values()), context
    await doc_store.close()
    return len(accepted), min(k, capacity)


async def test_concurrent_reservations_in_process() -> None:
    rng = random.Random(20261123)
    store = MemoryAvailability()
    rounds = [await _run_once(rng, run, [store]) for run in range(100)]
    assert [accepted for accepted, _ in rounds] == [expected for _, expected in rounds]


async def test_concurrent_reservations_two_instances_on_redis(redis_url: str) -> None:
    rng = random.Random(4242)
    clients = [aioredis.from_url(redis_url), aioredis.from_url(redis_url)]
    stores: list[AvailabilityStore] = [RedisAvailability(c) for c in clients]
    try:
        rounds = [await _run_once(rng, run, stores) for run in range(50)]
        assert [accepted for accepted, _ in rounds] == [expected for _, expected in rounds]
    finally:
        for s in stores:
            await s.close()
