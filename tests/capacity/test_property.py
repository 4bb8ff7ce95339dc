"""Randomized: streams of admissions, amendments, releases and prunes on both backends, with
a seeded RNG and a controllable clock. After every step the stored promises fit at every
instant by the brute-force oracle (never above capacity), and every admission or amendment is
ADMITTED exactly when the oracle says the promise fits (it never refuses one that fits)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from ocpi_gateway.reservation_policy.capacity.base import (
    CapacityTimeline,
    Promise,
    PromiseKind,
    Verdict,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need, SupplyEvse
from tests.capacity import oracle
from tests.capacity.support import AC, CCS, DC, T2, Clock, evse

L = "LOC-P"
KINDS = [(T2, AC, 11000), (T2, AC, 22000), (CCS, DC, 50000), (CCS, DC, 150000)]


def random_supply(rng: random.Random) -> list[SupplyEvse]:
    out = []
    for n in range(rng.randint(2, 5)):
        connectors = rng.sample(KINDS, rng.choice([1, 1, 2]))
        out.append(evse(f"E{n}", *connectors))
    return out


def random_need(rng: random.Random) -> Need:
    roll = rng.random()
    if roll < 0.25:
        return Need()
    if roll < 0.6:
        return Need(frozenset({rng.choice([T2, CCS])}))
    if roll < 0.8:
        return Need(frozenset({CCS}), min_power_w=rng.choice([40000, 50000, 100000]))
    return Need(power_types=frozenset({rng.choice([AC, DC])}),
                min_power_w=rng.choice([0, 15000]))


async def _stream(timeline: CapacityTimeline, clock: Clock, seed: int, steps: int) -> int:
    rng = random.Random(seed)
    supply = random_supply(rng)
    await timeline.set_supply(L, supply)
    reserve = rng.choice([0, 0, 1])
    stored: dict[str, Promise] = {}
    admitted = 0
    for step in range(steps):
        roll = rng.random()
        if roll < 0.55 or not stored:
            start = clock.now + timedelta(minutes=rng.randrange(0, 240, 5))
            # Now and then a long one (another length bucket of the index: base.bucket_of).
            end = start + timedelta(minutes=rng.randrange(5, 120, 5) if rng.random() < 0.9
                                    else rng.randrange(300, 24 * 60, 60))
            if rng.random() < 0.3:
                promise = Promise(f"p{step}", clock.now, end,
                                  evse_uid=rng.choice(supply).evse_uid,
                                  kind=PromiseKind.RESERVATION)
            else:
                promise = Promise(f"p{step}", start, end, random_need(rng))
            expected = oracle.fits(supply, [*stored.values(), promise], reserve,
                                   promise.start, promise.end)
            got = await timeline.admit(L, promise, reserve=reserve)
            assert got.ok is expected, (seed, step, promise, got, list(stored.values()))
            if got.ok:
                stored[promise.promise_id] = promise
                admitted += 1
            else:
                assert got.verdict in (Verdict.FULL, Verdict.EVSE_TAKEN, Verdict.NO_CLASS)
        elif roll < 0.7:
            old = stored[rng.choice(sorted(stored))]
            shift = timedelta(minutes=rng.randrange(-30, 35, 5))
            start = max(clock.now, old.start + shift)
            changed = Promise(old.promise_id, start, start + (old.end - old.start) + shift,
                              old.need, old.evse_uid, old.kind)
            if changed.end <= changed.start:
                continue
            rest = [p for p in stored.values() if p.promise_id != old.promise_id]
            expected = oracle.fits(supply, [*rest, changed], reserve, changed.start,
                                   changed.end)
            got = await timeline.amend(L, changed, reserve=reserve)
            assert got.ok is expected, (seed, step, changed, got)
            if got.ok:
                stored[old.promise_id] = changed
        elif roll < 0.9:
            victim = rng.choice(sorted(stored))
            assert await timeline.release(L, victim)
            del stored[victim]
        else:
            clock.advance(rng.randrange(5, 60, 5))
            await timeline.prune(L, clock.now)
            stored = {k: p for k, p in stored.items() if p.end > clock.now}
        on_timeline = await timeline.promises(L, clock.now - timedelta(days=1),
                                              clock.now + timedelta(days=2))
        assert {p.promise_id: p for p in on_timeline} == stored
        assert oracle.fits(supply, list(stored.values()), reserve)
    return admitted


@pytest.mark.parametrize("seed", range(12))
async def test_random_streams_never_overbook_and_never_refuse_what_fits(
        timeline: CapacityTimeline, clock: Clock, seed: int) -> None:
    admitted = await _stream(timeline, clock, seed, steps=60)
    assert admitted > 0
