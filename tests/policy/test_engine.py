from __future__ import annotations

import functools
from datetime import datetime, timedelta

import pytest

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.cli import explain
from ocpi_gateway.reservation_policy.engine import OutcomeHint, PolicyEngine, Refusal, RefusalReason
from ocpi_gateway.reservation_policy.models import ConnectorInfo, Partner, ReservationRequest
from ocpi_gateway.reservation_policy.plans import Plan
from ocpi_gateway.reservation_policy.policy import PolicySource, parse_policy
from ocpi_gateway.reservation_policy.rules import Exclusion
from tests.policy.support import CCS, NOW, T2, evse, grid, set_all

EMSP = Partner("NL", "EXA")
# The engine reads durations off this clock, and requests expire relative to it: a request
# built at collection time stays as long as it says however slowly the suite runs.
_engine = functools.partial(PolicyEngine, clock=lambda: NOW)


def source(**defaults: object) -> PolicySource:
    return PolicySource(policy=parse_policy({"defaults": {"min_duration_minutes": 1,
                                                          "walk_in_reserve": 0, **defaults}}))


def req(minutes: float = 30, *, evse_uid: str | None = None, standard: str | None = None,
        power: int | None = None, location: str = "LOC1") -> ReservationRequest:
    return ReservationRequest(location, evse_uid, EMSP, "TOKEN1",
                              NOW + timedelta(minutes=minutes),
                              connector_standard=standard, min_power_w=power)


def uids(plan: Plan | Refusal) -> list[str]:
    assert isinstance(plan, Plan), plan
    return [p.evse_uid for p in plan.attempts]


async def test_exclusions_and_their_reasons() -> None:
    avail = MemoryAvailability()
    cands = [
        evse("FREE", "CP1"),
        evse("NORES", "CP1", evse_id=2, reservable=False),
        evse("BUSY", "CP2"),
        evse("HELD", "CP2", evse_id=2),
        evse("DC", "CP3", connectors=(CCS,)),
        evse("SLOW", "CP4", connectors=(ConnectorInfo("IEC_62196_T2_COMBO", 50_000),)),
        evse("NOSTATUS", "CP5"),
    ]
    await set_all(avail, cands[:6])
    await avail.set_status("LOC1", "BUSY", EvseStatus.CHARGING, NOW)
    assert await avail.pick_and_hold("LOC1", ["HELD"], holder="other",
                                     until=utc_now() + timedelta(hours=1)) == "HELD"
    engine = _engine(source(), avail)
    explanation = await engine.explain(req(standard="IEC_62196_T2"), cands)
    why = {r.evse_uid: r.exclusion for r in explanation.rows}
    assert why == {"FREE": None, "NORES": Exclusion.NOT_RESERVABLE, "BUSY": Exclusion.NOT_FREE,
                   "HELD": Exclusion.HELD, "DC": Exclusion.WRONG_STANDARD,
                   "SLOW": Exclusion.WRONG_STANDARD, "NOSTATUS": Exclusion.UNKNOWN_STATUS}
    assert "held (held by another reservation)" in explanation.render()
    explanation = await engine.explain(req(standard="IEC_62196_T2_COMBO", power=100_000), cands)
    why = {r.evse_uid: r.exclusion for r in explanation.rows}
    assert why["DC"] is None and why["SLOW"] is Exclusion.BELOW_WANTED_POWER
    text = explanation.render()
    for uid in ("FREE", "NORES", "BUSY", "HELD", "DC", "SLOW", "NOSTATUS"):
        assert uid in text
    assert "below_wanted_power (wanted 100000 W, EVSE gives at most 50000 W)" in text


async def test_walk_in_reserve_is_explained_and_enforced() -> None:
    avail = MemoryAvailability()
    cands = grid(4)
    await set_all(avail, cands)
    engine = _engine(source(walk_in_reserve=2), avail)
    explanation = await engine.explain(req(), cands)
    reserve = [r for r in explanation.rows if r.exclusion is Exclusion.WALK_IN_RESERVE]
    ranked = [r for r in explanation.rows if r.rank is not None]
    assert len(reserve) == 2 and len(ranked) == 2
    plan = await engine.decide(req(), cands)
    assert isinstance(plan, Plan) and plan.keep_free == 2
    held = [await engine.hold(plan, holder=f"h{i}", until=utc_now() + timedelta(hours=1))
            for i in range(4)]
    assert [h is not None for h in held] == [True, True, False, False]
    plan = await engine.decide(req(), cands)
    assert isinstance(plan, Plan)
    assert await engine.hold(plan, holder="h9", until=utc_now() + timedelta(hours=1)) is None
    assert plan.exhausted.reason is RefusalReason.WALK_IN_RESERVE
    assert plan.exhausted.outcome_hint is OutcomeHint.OCCUPIED
    explanation = await engine.explain(req(), cands)
    assert explanation.refusal is not None
    assert explanation.refusal.reason is RefusalReason.WALK_IN_RESERVE


async def test_ordering_rules_each_decide() -> None:
    avail = MemoryAvailability()
    cands = [
        evse("MULTI", "CP1", connectors=(T2, CCS)),
        evse("SINGLE22", "CP2"),
        evse("SINGLE150", "CP3", connectors=(CCS,)),
    ]
    await set_all(avail, cands)
    assert uids(await _engine(source(ordering=["highest_power"]), avail)
                .decide(req(), cands)) == ["MULTI", "SINGLE150", "SINGLE22"]
    assert uids(await _engine(source(ordering=["single_connector", "highest_power"]), avail)
                .decide(req(), cands)) == ["SINGLE150", "SINGLE22", "MULTI"]
    # best fit: the smallest power that gives what is wanted
    assert uids(await _engine(source(ordering=["connector_wanted"]), avail)
                .decide(req(power=20_000), cands)) == ["SINGLE22", "MULTI", "SINGLE150"]
    assert uids(await _engine(source(ordering=["connector_wanted", "single_connector"]),
                                   avail).decide(req(standard="IEC_62196_T2_COMBO"), cands)
                ) == ["SINGLE150", "MULTI"]


async def test_least_recently_reserved_and_spread() -> None:
    avail = MemoryAvailability()
    cands = [evse("A1", "CPA", evse_id=1), evse("A2", "CPA", evse_id=2),
             evse("B1", "CPB", evse_id=1), evse("B2", "CPB", evse_id=2)]
    await set_all(avail, cands)
    until = utc_now() + timedelta(hours=1)
    # A1 reserved then released (recently used); B1 stays held (charger B busier)
    await avail.pick_and_hold("LOC1", ["A1"], holder="x", until=until)
    await avail.release("LOC1", "A1", holder="x")
    await avail.pick_and_hold("LOC1", ["B1"], holder="y", until=until)
    lrr = _engine(source(ordering=["least_recently_reserved"]), avail)
    assert uids(await lrr.decide(req(), cands)) == ["A2", "B2", "A1", "B1"]
    spread = _engine(source(ordering=["spread_across_chargers"]), avail)
    assert uids(await spread.decide(req(), cands)) == ["A1", "A2", "B2", "B1"]
    both = _engine(source(ordering=["spread_across_chargers", "least_recently_reserved"]),
                        avail)
    # the held B1 stays last: a snapshot-busy EVSE is only a fallback
    assert uids(await both.decide(req(), cands)) == ["A2", "A1", "B2", "B1"]


@pytest.mark.parametrize(("settings", "request_", "reason"), [
    ({"enabled": False}, req(), RefusalReason.DISABLED),
    ({"min_duration_minutes": 10}, req(minutes=5), RefusalReason.DURATION_TOO_SHORT),
    ({"max_duration_minutes": 60}, req(minutes=61), RefusalReason.DURATION_TOO_LONG),
    ({"max_concurrent_per_emsp": 3}, req(), RefusalReason.PARTNER_CAP_REACHED),
    ({}, req(evse_uid="NOPE"), RefusalReason.UNKNOWN_EVSE),
    ({}, req(evse_uid="NORES"), RefusalReason.NOT_RESERVABLE),
    ({}, req(location="EMPTY"), RefusalReason.UNKNOWN_LOCATION),
    ({}, req(standard="CHADEMO"), RefusalReason.NO_CANDIDATE),
])
async def test_refusals(settings: dict[str, object], request_: ReservationRequest,
                        reason: RefusalReason) -> None:
    avail = MemoryAvailability()
    cands = [evse("E1", "CP1"), evse("NORES", "CP1", evse_id=2, reservable=False)]
    await set_all(avail, cands)
    engine = _engine(source(**settings), avail)
    decision = await engine.decide(request_, [c for c in cands
                                              if c.location_id == request_.location_id],
                                   active_for_partner=3)
    assert isinstance(decision, Refusal) and decision.reason is reason
    assert decision.outcome_hint is OutcomeHint.REJECTED


async def test_busy_versus_inoperative() -> None:
    avail = MemoryAvailability()
    cands = grid(2)
    await set_all(avail, cands, EvseStatus.OUTOFORDER)
    engine = _engine(source(), avail, snapshot_ttl=0)
    plan = await engine.decide(req(), cands)
    assert isinstance(plan, Plan)
    assert await engine.hold(plan, holder="h", until=utc_now() + timedelta(hours=1)) is None
    assert plan.exhausted.reason is RefusalReason.ALL_INOPERATIVE
    assert plan.exhausted.outcome_hint is OutcomeHint.INOPERATIVE
    await avail.set_status("LOC1", "E000", EvseStatus.CHARGING, NOW)
    plan = await engine.decide(req(), cands)
    assert isinstance(plan, Plan)
    assert plan.exhausted.reason is RefusalReason.ALL_BUSY
    assert plan.exhausted.outcome_hint is OutcomeHint.OCCUPIED


async def test_stale_snapshot_never_decides_freeness() -> None:
    """With a cached snapshot, an EVSE freed since still gets picked and one taken since is
    skipped: the store's atomic hold decides."""
    avail = MemoryAvailability()
    cands = grid(3)
    await set_all(avail, cands)
    await avail.set_status("LOC1", "E000", EvseStatus.CHARGING, NOW)
    engine = _engine(source(ordering=[]), avail, snapshot_ttl=60.0)
    until = utc_now() + timedelta(hours=1)
    first = await engine.decide(req(), cands)
    assert uids(first) == ["E001", "E002", "E000"]
    assert isinstance(first, Plan) and first.free_in_snapshot == 2
    await avail.set_status("LOC1", "E000", EvseStatus.AVAILABLE, NOW)
    assert await avail.pick_and_hold("LOC1", ["E001"], holder="elsewhere", until=until)
    plan = await engine.decide(req(), cands)  # served from the cached snapshot
    assert uids(plan) == ["E001", "E002", "E000"]
    got = [await engine.hold(plan, holder=f"h{i}", until=until) for i in range(3)]
    assert [g.evse_uid if g else None for g in got] == ["E002", "E000", None]
    # holds made through the engine are visible to its next decision at once
    explanation_free = {r.evse_uid for r in (await engine.explain(req(), cands)).rows
                        if r.exclusion is None}
    assert explanation_free == set()


async def test_whole_charger_target_only_where_supported_and_allowed() -> None:
    avail = MemoryAvailability()
    cands = [evse("W1", "CPW", evse_id=None, connector_id=1, whole=True),
             evse("W2", "CPW", evse_id=None, connector_id=2, whole=True),
             evse("S1", "CPS", evse_id=1, whole=False),
             evse("S2", "CPS", evse_id=2, whole=False)]
    await set_all(avail, cands)
    allowed = _engine(source(allow_whole_charger=True, ordering=[]), avail)
    plan = await allowed.decide(req(), cands)
    assert isinstance(plan, Plan)
    targets = {p.evse_uid: p.target for p in plan.attempts}
    assert targets["W1"] == ChargerAddress("CPW") and targets["W2"] == ChargerAddress("CPW")
    assert targets["S1"] == ChargerAddress("CPS", 1)
    whole = {p.evse_uid: p.whole_charger for p in plan.attempts}
    assert whole == {"W1": True, "W2": True, "S1": False, "S2": False}
    # a named EVSE is reserved as such
    plan = await allowed.decide(req(evse_uid="W2"), cands)
    assert isinstance(plan, Plan)
    assert plan.attempts[0].target == ChargerAddress("CPW", None, 2)
    # not allowed by policy
    plan = await _engine(source(allow_whole_charger=False), avail).decide(req(), cands)
    assert isinstance(plan, Plan) and not any(p.whole_charger for p in plan.attempts)
    # a sibling that does not fit the wanted connector forbids the charger-wide target
    mixed = [evse("M1", "CPM", evse_id=None, connector_id=1, whole=True),
             evse("M2", "CPM", evse_id=None, connector_id=2, whole=True, connectors=(CCS,))]
    await set_all(avail, mixed)
    plan = await allowed.decide(req(standard="IEC_62196_T2"), mixed)
    assert isinstance(plan, Plan)
    assert [p.target for p in plan.attempts] == [ChargerAddress("CPM", None, 1)]


async def test_cli_explain_prints_every_candidate() -> None:
    avail = MemoryAvailability()
    cands = [*grid(3), evse("X", "CPX", reservable=False)]
    await set_all(avail, cands)
    await avail.set_status("LOC1", "X", EvseStatus.CHARGING, NOW)
    text = await explain(PolicySource(policy=parse_policy({"defaults": {"walk_in_reserve": 1}})),
                         avail, "LOC1", cands, now=datetime.now().astimezone())
    lines = text.splitlines()
    assert lines[0] == "location LOC1"
    assert "walk_in_reserve=1" in text
    assert sum("E00" in line for line in lines) == 3
    assert any("#1 E000" in line and "score (" in line for line in lines)
    assert any("E002" in line and "excluded: walk_in_reserve" in line for line in lines)
    assert any("X on CPX" in line and "excluded: not_reservable" in line for line in lines)


def test_naive_expiry_is_read_as_utc() -> None:
    naive = datetime(2026, 11, 23, 12, 0)
    request = ReservationRequest("LOC1", None, EMSP, "T", naive)
    assert request.expiry.tzinfo is not None
    assert request.expiry.utcoffset() == timedelta(0)
    assert request.expiry.replace(tzinfo=None) == naive


async def test_forgotten_snapshot_orders_by_the_fresh_status() -> None:
    """A status change makes the gateway forget the location's cached snapshot, so that the
    ordering (here: spread across chargers) sees a charger that just became busy."""
    avail = MemoryAvailability()
    cands = [evse("A1", "CPA", evse_id=1), evse("A2", "CPA", evse_id=2),
             evse("B1", "CPB", evse_id=1), evse("B2", "CPB", evse_id=2)]
    await set_all(avail, cands)
    engine = _engine(source(ordering=["spread_across_chargers"]), avail,
                          snapshot_ttl=60.0)
    assert uids(await engine.decide(req(), cands))[0] == "A1"
    await avail.set_status("LOC1", "A1", EvseStatus.CHARGING, NOW)
    # Still cached: A1 looks free and charger A idle.
    assert uids(await engine.decide(req(), cands))[:2] == ["A1", "A2"]
    engine.forget_snapshot("LOC1")
    assert uids(await engine.decide(req(), cands))[:2] == ["B1", "B2"]
