"""Edges of the policy decision: power fit, whole-charger grouping, the walk-in reserve.

Each test pins a boundary that a one-character change to engine.py or rules.py would move
(scripts/mutate.py found them unguarded)."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime, timedelta

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.capacity.base import Admission, Verdict
from ocpi_gateway.reservation_policy.engine import PolicyEngine, Refusal, RefusalReason
from ocpi_gateway.reservation_policy.models import ConnectorInfo, Partner, ReservationRequest
from ocpi_gateway.reservation_policy.plans import Plan
from ocpi_gateway.reservation_policy.policy import PolicySource, parse_policy
from ocpi_gateway.reservation_policy.rules import Exclusion
from tests.policy.support import CCS, NOW, T2, evse, grid, set_all

EMSP = Partner("NL", "EXA")
_engine = functools.partial(PolicyEngine, clock=lambda: NOW, snapshot_ttl=0)


def until() -> datetime:
    # The memory store ages holds on the real clock.
    return utc_now() + timedelta(hours=1)


def source(**defaults: object) -> PolicySource:
    return PolicySource(policy=parse_policy({"defaults": {"min_duration_minutes": 1,
                                                          "walk_in_reserve": 0, "ordering": [],
                                                          **defaults}}))


def req(*, evse_uid: str | None = None, standard: str | None = None,
        power: int | None = None) -> ReservationRequest:
    return ReservationRequest("LOC1", evse_uid, EMSP, "TOKEN1", NOW + timedelta(minutes=30),
                              connector_standard=standard, min_power_w=power)


def planned(decision: Plan | Refusal) -> list[str]:
    assert isinstance(decision, Plan), decision
    return [p.evse_uid for p in decision.attempts]


async def test_a_wanted_power_without_a_standard_filters_on_the_best_connector() -> None:
    avail = MemoryAvailability()
    cands = [evse("AC22", "CP1"), evse("DC150", "CP2", connectors=(CCS,)),
             evse("MIXED", "CP3", connectors=(T2, ConnectorInfo("IEC_62196_T2_COMBO", 50_000)))]
    await set_all(avail, cands)
    engine = _engine(source(), avail)
    assert planned(await engine.decide(req(power=50_000), cands)) == ["DC150", "MIXED"]
    assert planned(await engine.decide(req(power=50_001), cands)) == ["DC150"]
    # Exactly the wanted power is enough, with or without a standard.
    assert planned(await engine.decide(req(power=22_000), cands)) == ["AC22", "DC150", "MIXED"]
    assert planned(await engine.decide(req(standard="IEC_62196_T2", power=22_000), cands)) == [
        "AC22", "MIXED"]
    decision = await engine.decide(req(power=150_001), cands)
    assert isinstance(decision, Refusal) and decision.reason is RefusalReason.NO_CANDIDATE


async def test_connector_wanted_prefers_the_smallest_sufficient_power() -> None:
    avail = MemoryAvailability()
    cands = [evse("DC150", "CP1", connectors=(CCS,)),
             evse("DC50", "CP2", connectors=(ConnectorInfo("IEC_62196_T2_COMBO", 50_000),)),
             evse("AC22", "CP3")]
    await set_all(avail, cands)
    engine = _engine(source(ordering=["connector_wanted"]), avail)
    assert planned(await engine.decide(req(power=40_000), cands)) == ["DC50", "DC150"]
    assert planned(await engine.decide(req(standard="IEC_62196_T2_COMBO"), cands)) == [
        "DC50", "DC150"]
    explanation = await engine.explain(req(power=40_000), cands)
    scores = {r.evse_uid: r.score for r in explanation.rows if r.exclusion is None}
    assert scores == {"DC50": (10.0,), "DC150": (110.0,)}  # kW above the wanted power


async def test_a_charger_with_one_reservable_evse_is_not_reserved_as_a_whole() -> None:
    avail = MemoryAvailability()
    cands = [evse("W1", "CPW", evse_id=None, connector_id=1, whole=True),
             evse("W2", "CPW", evse_id=None, connector_id=2, whole=True, reservable=False),
             evse("P1", "CPP", evse_id=None, connector_id=1, whole=True),
             evse("P2", "CPP", evse_id=None, connector_id=2, whole=True)]
    await set_all(avail, cands)
    plan = await _engine(source(allow_whole_charger=True), avail).decide(req(), cands)
    assert isinstance(plan, Plan)
    targets = {p.evse_uid: p.target for p in plan.attempts}
    assert targets == {"W1": ChargerAddress("CPW", None, 1), "P1": ChargerAddress("CPP"),
                       "P2": ChargerAddress("CPP")}
    assert plan.whole_chargers == frozenset({"CPP"})


async def test_the_walk_in_reserve_boundary_in_decide_and_explain() -> None:
    avail = MemoryAvailability()
    cands = grid(3)
    await set_all(avail, cands)
    await avail.set_status("LOC1", "E002", EvseStatus.CHARGING, NOW)
    # Two free, one kept for walk-ins: one may be reserved, and once it is taken by someone
    # else the EVSEs are busy, not kept back.
    engine = _engine(source(walk_in_reserve=1), avail)
    plan = await engine.decide(req(), cands)
    assert isinstance(plan, Plan) and plan.exhausted.reason is RefusalReason.ALL_BUSY
    explanation = await engine.explain(req(), cands)
    assert explanation.refusal is None and explanation.free_evses == 2
    rows = {r.evse_uid: (r.rank, r.exclusion) for r in explanation.rows}
    assert rows == {"E000": (1, None), "E001": (None, Exclusion.WALK_IN_RESERVE),
                    "E002": (None, Exclusion.NOT_FREE)}
    assert "decision: REFUSED" not in explanation.render()
    # Two free, two kept: nothing may be reserved, and explain says so.
    engine = _engine(source(walk_in_reserve=2), avail)
    plan = await engine.decide(req(), cands)
    assert isinstance(plan, Plan) and plan.exhausted.reason is RefusalReason.WALK_IN_RESERVE
    assert await engine.hold(plan, holder="h", until=until()) is None
    explanation = await engine.explain(req(), cands)
    assert explanation.refusal is not None
    assert explanation.refusal.reason is RefusalReason.WALK_IN_RESERVE
    assert [r for r in explanation.rows if r.rank is not None] == []
    assert "decision: REFUSED walk_in_reserve" in explanation.render()


async def test_a_request_of_exactly_the_longest_duration_is_accepted() -> None:
    avail = MemoryAvailability()
    cands = grid(1)
    await set_all(avail, cands)
    engine = _engine(source(max_duration_minutes=30, min_duration_minutes=30), avail)
    assert planned(await engine.decide(req(), cands)) == ["E000"]  # 30 of 30..30 minutes


async def test_without_a_free_evse_the_fallback_follows_the_ordering() -> None:
    # Nothing free in the snapshot: the plan is the busy EVSEs, best first by the rules (the
    # snapshot may be stale), not merely by uid.
    avail = MemoryAvailability()
    cands = [evse("A-AC", "CP1"), evse("B-DC", "CP2", connectors=(CCS,))]
    await set_all(avail, cands, EvseStatus.CHARGING)
    engine = _engine(source(ordering=["highest_power"]), avail)
    plan = await engine.decide(req(), cands)
    assert planned(plan) == ["B-DC", "A-AC"]
    assert isinstance(plan, Plan) and plan.free_in_snapshot == 0


async def test_the_snapshot_is_reused_within_its_ttl_only() -> None:
    avail = MemoryAvailability()
    cands = [evse("A1", "CPA", evse_id=1), evse("A2", "CPA", evse_id=2),
             evse("B1", "CPB", evse_id=1)]
    await set_all(avail, cands)
    now = [100.0]
    engine = PolicyEngine(source(ordering=["spread_across_chargers"]), avail,
                          clock=lambda: NOW, snapshot_ttl=0.5, monotonic=lambda: now[0])
    assert planned(await engine.decide(req(), cands))[0] == "A1"
    await avail.set_status("LOC1", "A2", EvseStatus.CHARGING, NOW)
    now[0] += 0.4  # within the TTL: the cached snapshot still sees charger A idle
    assert planned(await engine.decide(req(), cands)) == ["A1", "A2", "B1"]
    now[0] += 0.1  # 0.5 s old: read afresh
    assert planned(await engine.decide(req(), cands)) == ["B1", "A1", "A2"]


async def test_a_release_through_the_engine_frees_the_evse_in_its_cached_snapshot() -> None:
    avail = MemoryAvailability()
    cands = grid(2)
    await set_all(avail, cands)
    engine = PolicyEngine(source(), avail, clock=lambda: NOW, snapshot_ttl=60.0,
                          monotonic=lambda: 0.0)
    plan = await engine.decide(req(), cands)
    assert isinstance(plan, Plan)
    held = await engine.hold(plan, holder="h1", until=until())
    assert held is not None and held.evse_uid == "E000"
    assert await engine.release("LOC1", "E000", holder="someone else") is False
    plan = await engine.decide(req(), cands)  # a refused release leaves it held
    assert isinstance(plan, Plan) and plan.free_in_snapshot == 1
    assert planned(plan) == ["E001", "E000"]
    assert await engine.release("LOC1", "E000", holder="h1") is True
    plan = await engine.decide(req(), cands)  # still the cached snapshot, patched
    assert isinstance(plan, Plan) and plan.free_in_snapshot == 2
    assert planned(plan) == ["E000", "E001"]


async def test_explain_shows_statuses_targets_and_rows_in_rank_order() -> None:
    avail = MemoryAvailability()
    cands = [evse("Z-W1", "CPW", evse_id=None, connector_id=1, whole=True),
             evse("Z-W2", "CPW", evse_id=None, connector_id=2, whole=True),
             evse("Y-C16", "CP16", evse_id=None, connector_id=2),
             evse("X-E201", "CP201", evse_id=3),
             evse("ZZ-DC", "CPD", connectors=(CCS,)),
             evse("A-BUSY", "CPB"), evse("B-HELD", "CPB", evse_id=2), evse("C-NEW", "CPN")]
    await set_all(avail, cands[:7])
    await avail.set_status("LOC1", "A-BUSY", EvseStatus.CHARGING, NOW)
    assert await avail.pick_and_hold("LOC1", ["B-HELD"], holder="x", until=until()) == "B-HELD"
    engine = _engine(source(allow_whole_charger=True, ordering=["highest_power"]), avail)
    explanation = await engine.explain(req(), cands)
    status = {r.evse_uid: r.status for r in explanation.rows}
    assert status == {"Z-W1": "AVAILABLE", "Z-W2": "AVAILABLE", "Y-C16": "AVAILABLE",
                      "X-E201": "AVAILABLE", "ZZ-DC": "AVAILABLE", "A-BUSY": "CHARGING",
                      "B-HELD": "AVAILABLE held",
                      "C-NEW": "UNKNOWN"}
    lines = explanation.render().splitlines()
    assert lines[2] == "  ordering: highest_power"
    assert lines[3] == "  enforcement: grace_minutes=0 no_show_strikes=off max_no_show_rate=off"
    rows = [line.split()[1] for line in lines[5:]]
    # Ranked rows by rank (ties by uid), then the excluded ones by uid.
    assert rows == ["ZZ-DC", "X-E201", "Y-C16", "Z-W1", "Z-W2", "A-BUSY", "B-HELD", "C-NEW"]
    where = {line.split()[1]: line.split("] score ")[1] for line in lines[5:10]}
    assert where == {"ZZ-DC": "(highest_power=-150000) -> evse 1",
                     "X-E201": "(highest_power=-22000) -> evse 3",
                     "Y-C16": "(highest_power=-22000) -> connector 2",
                     "Z-W1": "(highest_power=-22000) -> whole charger",
                     "Z-W2": "(highest_power=-22000) -> whole charger"}
    assert lines[10] == "    -- A-BUSY on CPB [CHARGING] excluded: not_free (status CHARGING)"
    assert "ordering: (none)" in (await _engine(source(), avail).explain(req(), cands)).render()


async def test_explain_shows_each_rule_s_score() -> None:
    avail = MemoryAvailability()
    cands = [evse("DC50", "CP1", connectors=(ConnectorInfo("IEC_62196_T2_COMBO", 50_000),)),
             evse("MULTI", "CP2", evse_id=1, connectors=(T2, CCS)),
             evse("BUSY", "CP2", evse_id=2)]
    await set_all(avail, cands)
    await avail.set_status("LOC1", "BUSY", EvseStatus.CHARGING, NOW)
    rules = ["connector_wanted", "single_connector", "spread_across_chargers"]
    engine = _engine(source(ordering=rules), avail)

    async def scores(request: ReservationRequest) -> dict[str, tuple[float, ...] | None]:
        return {r.evse_uid: r.score for r in (await engine.explain(request, cands)).rows
                if r.exclusion is None}

    # Nothing wanted: connector_wanted is neutral (0); a second connector costs 1; one
    # busy EVSE on the charger counts 1.
    assert await scores(req()) == {"DC50": (0.0, 0.0, 0.0), "MULTI": (0.0, 1.0, 1.0)}
    # A standard alone: the kW that standard gives (nothing to subtract).
    assert await scores(req(standard="IEC_62196_T2_COMBO")) == {
        "DC50": (50.0, 0.0, 0.0), "MULTI": (150.0, 1.0, 1.0)}


async def test_a_standard_the_evse_lacks_is_explained() -> None:
    avail = MemoryAvailability()
    cands = [evse("BARE", "CP1", connectors=()), evse("AC", "CP2")]
    await set_all(avail, cands)
    explanation = await _engine(source(), avail).explain(req(standard="CHADEMO"), cands)
    detail = {r.evse_uid: (r.exclusion, r.detail) for r in explanation.rows}
    assert detail == {"BARE": (Exclusion.WRONG_STANDARD, "wanted CHADEMO, EVSE has none"),
                      "AC": (Exclusion.WRONG_STANDARD,
                             "wanted CHADEMO, EVSE has IEC_62196_T2")}


def test_nothing_held_names_the_last_capacity_refusal() -> None:
    exhausted = Refusal(RefusalReason.ALL_BUSY, "every fitting EVSE is busy")
    plan = Plan("LOC1", source().effective("LOC1", EMSP), (), 0, exhausted)
    assert plan.nothing_held is exhausted
    plan.capacity_refusals.extend([Admission(Verdict.EVSE_TAKEN), Admission(Verdict.NO_CLASS)])
    refusal = plan.nothing_held
    assert refusal.reason is RefusalReason.PROMISED
    assert refusal.message == "the fitting EVSEs are promised to bookings: no_class"


async def test_holds_taken_lists_the_engine_s_own_holds_until_they_end() -> None:
    avail = MemoryAvailability()
    cands = grid(2)
    await set_all(avail, cands)
    now = [NOW]
    engine = PolicyEngine(source(), avail, clock=lambda: now[0], snapshot_ttl=0)
    plan = await engine.decide(req(), cands)
    assert isinstance(plan, Plan)
    ends = NOW + timedelta(minutes=5)
    held = await engine.hold(plan, holder="h1", until=ends)
    assert held is not None
    assert engine.holds_taken() == {("LOC1", held.evse_uid): ("h1", ends)}
    now[0] = ends - timedelta(microseconds=1)
    assert engine.holds_taken() == {("LOC1", held.evse_uid): ("h1", ends)}
    now[0] = ends  # over at its end: not put back after Redis lost it
    assert engine.holds_taken() == {}


async def test_a_booking_s_binding_may_take_the_evse_kept_for_walk_ins() -> None:
    avail = MemoryAvailability()
    cands = grid(2)
    await set_all(avail, cands)
    await avail.set_status("LOC1", "E001", EvseStatus.CHARGING, NOW)
    engine = _engine(source(walk_in_reserve=1), avail)
    walk_in = await engine.decide(req(), cands)
    assert isinstance(walk_in, Plan) and walk_in.keep_free == 1
    assert await engine.hold(walk_in, holder="r", until=until()) is None
    # Admitted with the reserve kept at every instant of its slot: none kept again now.
    binding = await engine.decide(replace(req(), booking_key="B1"), cands)
    assert isinstance(binding, Plan) and binding.keep_free == 0
    held = await engine.hold(binding, holder="b", until=until())
    assert held is not None and held.evse_uid == "E000"
