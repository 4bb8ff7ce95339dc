"""The kept evaluation (reservation_policy/evaluation.py EvaluationIndex) decides exactly as the
full walk over every EVSE: under random status changes, holds and releases (through the engine
and behind its back), expired holds, snapshot refreshes and replaced candidates, every decision
of the indexed engine equals the one the full evaluation gives for the same snapshot."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.engine import PolicyEngine
from ocpi_gateway.reservation_policy.evaluation import Evaluation, EvaluationIndex
from ocpi_gateway.reservation_policy.models import (
    ConnectorInfo,
    EvseCandidate,
    Partner,
    ReservationRequest,
)
from ocpi_gateway.reservation_policy.plans import Plan
from ocpi_gateway.reservation_policy.policy import OrderingRule, PolicySource, parse_policy
from tests.policy.support import NOW

LOCATION = "LOC-IDX"
PARTNER = Partner("DE", "EMS")
STATUSES = (EvseStatus.AVAILABLE, EvseStatus.AVAILABLE, EvseStatus.AVAILABLE,
            EvseStatus.CHARGING, EvseStatus.RESERVED, EvseStatus.OUTOFORDER,
            EvseStatus.INOPERATIVE, EvseStatus.UNKNOWN)


def fleet(rng: random.Random, evses: int) -> tuple[EvseCandidate, ...]:
    out = []
    for i in range(evses):
        cp = f"CP{i // rng.choice((1, 2, 4)):03d}"
        standard = rng.choice(("IEC_62196_T2", "IEC_62196_T2_COMBO", "CHADEMO"))
        connectors = tuple(ConnectorInfo(standard if n == 0 else "IEC_62196_T2",
                                         rng.choice((11_000, 22_000, 50_000, 150_000)))
                           for n in range(rng.choice((1, 1, 2))))
        out.append(EvseCandidate(LOCATION, f"E{i:03d}", cp, ChargerAddress(cp, i % 4 + 1),
                                 rng.random() > 0.1, connectors))
    rng.shuffle(out)  # the catalog's order is not the uid order
    return tuple(out)


def requests(rng: random.Random) -> list[ReservationRequest]:
    expiry = NOW + timedelta(minutes=30)
    shapes = [(None, None), ("IEC_62196_T2", None), ("IEC_62196_T2_COMBO", 40_000),
              (None, 20_000)]
    return [ReservationRequest(LOCATION, None, PARTNER, f"TOK{n}", expiry,
                               connector_standard=standard, min_power_w=power)
            for n, (standard, power) in enumerate(rng.sample(shapes, 3))]


def described(ev: Evaluation) -> tuple[object, ...]:
    return ([(c.evse_uid, score) for c, score in ev.eligible],
            [(c.evse_uid, score) for c, score in ev.fallback],
            ev.free_count, sorted(ev.statically_excluded))


class Clocks:
    def __init__(self) -> None:
        self.now = NOW
        self.mono = 0.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono


@pytest.mark.parametrize("seed", range(12))
async def test_indexed_decisions_equal_the_full_walk_under_changes(seed: int) -> None:
    rng = random.Random(seed)
    clocks = Clocks()
    store = MemoryAvailability(clock=clocks.wall)
    rules = list(OrderingRule)
    rng.shuffle(rules)
    ordering = [r.value for r in rules[:rng.randint(0, len(rules))]]
    policy = PolicySource(policy=parse_policy({"defaults": {
        "walk_in_reserve": rng.choice((0, 0, 1, 3)), "ordering": ordering,
        "allow_whole_charger": rng.random() < 0.5}}))
    # A snapshot cache that only the test ages (a hold through the engine patches it), or a
    # fresh snapshot for every decision.
    ttl = rng.choice((0.0, 0.25))
    engine = PolicyEngine(policy, store, clock=clocks.wall, monotonic=clocks.monotonic,
                          snapshot_ttl=ttl)
    reference = PolicyEngine(policy, store, clock=clocks.wall, monotonic=clocks.monotonic,
                             snapshot_ttl=0.0)
    candidates = fleet(rng, rng.choice((6, 40, 120)))
    for c in candidates:
        if rng.random() < 0.9:  # some never reported
            await store.set_status(LOCATION, c.evse_uid, rng.choice(STATUSES), clocks.now)
    shapes = requests(rng)
    holds: list[tuple[str, str]] = []
    compared = 0
    for step in range(150):
        op = rng.random()
        uid = rng.choice(candidates).evse_uid
        if op < 0.3:
            changed = await store.set_status(LOCATION, uid, rng.choice(STATUSES), clocks.now)
            if changed and rng.random() < 0.7:
                engine.forget_snapshot(LOCATION)  # as the status listener does
        elif op < 0.55:
            request = rng.choice(shapes)
            plan = await engine.decide(request, candidates)
            if isinstance(plan, Plan):
                until = clocks.now + timedelta(minutes=rng.choice((1, 30)))
                held = await engine.hold(plan, holder=f"h{step}", until=until)
                if held is not None:
                    holds.append((held.evse_uid, f"h{step}"))
        elif op < 0.7 and holds:
            held_uid, holder = holds.pop(rng.randrange(len(holds)))
            if rng.random() < 0.5:
                await engine.release(LOCATION, held_uid, holder=holder)
            else:  # another instance, or the expiry path: the engine's cache does not know
                await store.release(LOCATION, held_uid, holder=holder)
        elif op < 0.78:
            # Behind the engine's back (another instance's hold).
            await store.pick_and_hold(LOCATION, [uid], holder=f"other{step}",
                                      until=clocks.now + timedelta(minutes=5))
        elif op < 0.86:
            clocks.now += timedelta(minutes=rng.choice((1, 2, 31)))  # holds run out
        elif op < 0.94:
            clocks.mono += rng.choice((0.1, 0.3))  # the cached snapshot ages
        elif op < 0.97:
            candidates = tuple(candidates)  # a reload: equal but new candidates
        else:
            candidates = candidates[1:] + candidates[:1]
        for request in shapes:
            indexed = await engine._evaluate(request, candidates)
            full = await engine._evaluate(request, candidates, indexed=False)
            assert described(indexed) == described(full), (seed, step, request)
            compared += 1
        if ttl == 0.0:
            request = rng.choice(shapes)
            assert await engine.decide(request, candidates) == \
                await reference.decide(request, candidates), (seed, step)
    assert compared == 150 * len(shapes)


async def test_the_index_follows_a_hold_through_the_cached_snapshot() -> None:
    # Two decisions in a row within the snapshot's lifetime: the second must not offer the
    # EVSE the first held (nor rank its charger as idle), as the full walk would not.
    clocks = Clocks()
    store = MemoryAvailability(clock=clocks.wall)
    candidates = tuple(EvseCandidate(LOCATION, f"E{i}", f"CP{i // 2}", ChargerAddress(
        f"CP{i // 2}", i % 2 + 1), True, (ConnectorInfo("IEC_62196_T2", 22_000),))
        for i in range(6))
    for c in candidates:
        await store.set_status(LOCATION, c.evse_uid, EvseStatus.AVAILABLE, NOW)
    policy = PolicySource(policy=parse_policy({"defaults": {
        "ordering": ["spread_across_chargers", "least_recently_reserved"]}}))
    engine = PolicyEngine(policy, store, clock=clocks.wall, monotonic=clocks.monotonic)
    request = ReservationRequest(LOCATION, None, PARTNER, "TOK", NOW + timedelta(minutes=30))
    picked = []
    for n in range(3):
        plan = await engine.decide(request, candidates)
        assert isinstance(plan, Plan)
        held = await engine.hold(plan, holder=f"h{n}", until=request.expiry)
        assert held is not None
        picked.append(held.evse_uid)
        full = await engine._evaluate(request, candidates, indexed=False)
        assert described(await engine._evaluate(request, candidates)) == described(full)
    # One EVSE per charger: each hold made its charger busy for the next decision.
    assert picked == ["E0", "E2", "E4"]


def test_entries_gone_from_a_snapshot_count_as_unknown() -> None:
    # A store that lost entries (a Redis location rebuilt) hands back a smaller snapshot.
    from ocpi_gateway.reservation_policy.availability.base import EvseAvailability
    from ocpi_gateway.reservation_policy.evaluation import EvaluationIndex, evaluate
    from ocpi_gateway.reservation_policy.policy import PolicySettings

    candidates = tuple(EvseCandidate(LOCATION, f"E{i}", f"CP{i}", ChargerAddress(f"CP{i}", 1),
                                     True, (ConnectorInfo("IEC_62196_T2", 22_000),))
                       for i in range(4))
    settings = PolicySettings(ordering=("spread_across_chargers", "least_recently_reserved"))
    request = ReservationRequest(LOCATION, None, PARTNER, "TOK", NOW + timedelta(minutes=30))
    index = EvaluationIndex(request, candidates, settings)
    full = {c.evse_uid: EvseAvailability(LOCATION, c.evse_uid, EvseStatus.AVAILABLE, NOW)
            for c in candidates}
    for snapshot in (full, {k: v for k, v in full.items() if k != "E2"}, {}, full):
        assert described(index.evaluation(settings, snapshot)) == described(
            evaluate(request, candidates, settings, snapshot))
    assert [c.evse_uid for c, _ in index.evaluation(settings, {"E1": full["E1"]}).eligible
            ] == ["E1"]


def test_the_index_is_used_only_with_one_candidate_per_uid() -> None:
    a = EvseCandidate(LOCATION, "E1", "CP1", ChargerAddress("CP1", 1), True,
                      (ConnectorInfo("IEC_62196_T2", 22_000),))
    b = EvseCandidate(LOCATION, "E2", "CP1", ChargerAddress("CP1", 2), True,
                      (ConnectorInfo("IEC_62196_T2", 22_000),))
    assert EvaluationIndex.usable([a, b]) is True
    assert EvaluationIndex.usable([a, b, a]) is False  # keyed by uid: the walk decides


def test_entries_gone_while_others_appear_are_both_seen() -> None:
    # As many entries (or half as many) appear as vanish: the sizes alone hide the change.
    from ocpi_gateway.reservation_policy.availability.base import EvseAvailability
    from ocpi_gateway.reservation_policy.evaluation import evaluate
    from ocpi_gateway.reservation_policy.policy import PolicySettings

    candidates = tuple(EvseCandidate(LOCATION, f"E{i}", f"CP{i}", ChargerAddress(f"CP{i}", 1),
                                     True, (ConnectorInfo("IEC_62196_T2", 22_000),))
                       for i in range(4))
    settings = PolicySettings(ordering=("spread_across_chargers",))
    request = ReservationRequest(LOCATION, None, PARTNER, "TOK", NOW + timedelta(minutes=30))

    def free(*uids: str) -> dict[str, EvseAvailability]:
        return {u: EvseAvailability(LOCATION, u, EvseStatus.AVAILABLE, NOW) for u in uids}

    for later in (free("E0", "E1", "E3"), free("E0", "E3")):
        index = EvaluationIndex(request, candidates, settings)
        for snapshot in (free("E0", "E1", "E2"), later):
            got = index.evaluation(settings, snapshot)
            want = evaluate(request, candidates, settings, snapshot)
            assert described(got) == described(want)
            assert got.free_count == want.free_count == len(snapshot)


def test_ranked_uids_reads_the_uids_of_a_ranking_in_order() -> None:
    from ocpi_gateway.reservation_policy.evaluation import RankedUids

    ranked = [(EvseCandidate(LOCATION, f"E{n}", "CP1", ChargerAddress("CP1", n + 1), True,
                             (ConnectorInfo("IEC_62196_T2", 22_000),)), (float(n),))
              for n in range(5)]
    uids = RankedUids(ranked)
    assert len(uids) == 5
    assert list(uids) == ["E0", "E1", "E2", "E3", "E4"]
    assert uids[0] == "E0" and uids[-1] == "E4"
    assert list(uids[1:3]) == ["E1", "E2"]
    assert "E3" in uids and "E9" not in uids
    assert len(RankedUids([])) == 0 and list(RankedUids([])) == []


def site(count: int, location: str = LOCATION) -> tuple[EvseCandidate, ...]:
    return tuple(EvseCandidate(location, f"E{i}", f"CP{i}", ChargerAddress(f"CP{i}", 1), True,
                               (ConnectorInfo("IEC_62196_T2", 22_000),))
                 for i in range(count))


async def free_engine(*candidate_sets: tuple[EvseCandidate, ...]) -> PolicyEngine:
    store = MemoryAvailability(clock=lambda: NOW)
    for candidates in candidate_sets:
        for c in candidates:
            await store.set_status(c.location_id, c.evse_uid, EvseStatus.AVAILABLE, NOW)
    return PolicyEngine(PolicySource(), store, clock=lambda: NOW, snapshot_ttl=0.0)


def location_request(location: str = LOCATION) -> ReservationRequest:
    return ReservationRequest(location, None, PARTNER, "TOK", NOW + timedelta(minutes=30))


async def test_new_candidates_are_evaluated_anew_not_from_the_kept_index() -> None:
    # A reload that drops an EVSE (or marks one not reservable): the kept index of the old
    # candidates would still offer it.
    engine = await free_engine(site(3))
    before = await engine.decide(location_request(), site(3))
    assert isinstance(before, Plan)
    assert sorted(c.evse_uid for c, _ in before.ranked) == ["E0", "E1", "E2"]
    reloaded = (*site(3)[:1], replace(site(3)[1], reservable=False))
    after = await engine.decide(location_request(), reloaded)
    assert isinstance(after, Plan)
    assert [c.evse_uid for c, _ in after.ranked] == ["E0"]


async def test_candidates_with_a_uid_twice_are_walked_in_full() -> None:
    # The index is keyed by uid: with a uid twice the full walk decides (as it ranks both).
    candidates = site(2) + site(2)[:1]
    engine = await free_engine(candidates)
    indexed = await engine._evaluate(location_request(), candidates)
    full = await engine._evaluate(location_request(), candidates, indexed=False)
    assert described(indexed) == described(full)
    assert sorted(c.evse_uid for c, _ in indexed.eligible) == ["E0", "E0", "E1"]


async def test_at_most_max_indexes_are_kept_the_one_built_longest_ago_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ocpi_gateway.reservation_policy import engine as engine_module

    monkeypatch.setattr(engine_module, "MAX_INDEXES", 2)
    sites = {name: site(2, name) for name in ("LOC-A", "LOC-B", "LOC-C")}
    engine = await free_engine(*sites.values())

    def kept() -> list[str]:
        return [location for location, _ in engine._indexes]

    await engine.decide(location_request("LOC-A"), sites["LOC-A"])
    await engine.decide(location_request("LOC-B"), sites["LOC-B"])
    assert kept() == ["LOC-A", "LOC-B"]
    # LOC-B's candidates reloaded: its index is built again in its own place, the bound
    # costs no other location's.
    sites["LOC-B"] = sites["LOC-B"][::-1]
    await engine.decide(location_request("LOC-B"), sites["LOC-B"])
    assert kept() == ["LOC-A", "LOC-B"]
    # LOC-A's reloaded: built again, it is now the newest.
    sites["LOC-A"] = sites["LOC-A"][::-1]
    await engine.decide(location_request("LOC-A"), sites["LOC-A"])
    assert kept() == ["LOC-B", "LOC-A"]
    await engine.decide(location_request("LOC-C"), sites["LOC-C"])
    assert kept() == ["LOC-A", "LOC-C"]
