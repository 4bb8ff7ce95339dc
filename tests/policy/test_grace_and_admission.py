"""The grace period (the ReserveNow expiry, the hold and the expiry clock include it; the
duration limits do not) and the admission rule every new reservation consults (a banned
token is refused before any charger is asked; a live reservation can still be changed)."""

from __future__ import annotations

from datetime import timedelta

from ocpi_gateway.reservation_policy.enforcement.service import Enforcement
from ocpi_gateway.reservation_policy.engine import RefusalReason
from ocpi_gateway.reservation_policy.lifecycle import ReserveOutcome
from ocpi_gateway.reservation_policy.records import ReservationState
from tests.policy.support import grid
from tests.policy.world import EMSP, ManualClock, World


async def _world(evses: int = 2, **policy: object) -> tuple[World, ManualClock]:
    clock = ManualClock()
    w = await World(grid(evses), clock=clock, **policy).ready()
    return w, clock


async def test_the_charger_holds_it_through_the_grace_period() -> None:
    w, clock = await _world(grace_minutes=5)
    asked = clock() + timedelta(minutes=30)
    result = await w.reserve(minutes=30)
    assert result.outcome is ReserveOutcome.ACCEPTED
    [sent] = w.chargers.reserve_nows()
    assert sent.expiry == asked + timedelta(minutes=5)
    stored = result.reservation
    assert stored is not None
    assert stored.expiry == asked and stored.grace_seconds == 300
    assert stored.ends_at == asked + timedelta(minutes=5)
    hold = await w.avail.get("LOC1", stored.evse_uid or "")
    assert hold is not None and hold.hold_until == asked + timedelta(minutes=5)
    assert await w.service.expire_due(asked + timedelta(minutes=4, seconds=59)) == 0
    assert await w.service.expire_due(asked + timedelta(minutes=5)) == 1
    ended = await w.service.get(EMSP, "R1")
    assert ended is not None and ended.state is ReservationState.EXPIRED


async def test_the_duration_limits_ignore_the_grace_period() -> None:
    w, _ = await _world(grace_minutes=30, max_duration_minutes=60)
    assert (await w.reserve("A", minutes=60)).outcome is ReserveOutcome.ACCEPTED
    refused = await w.reserve("B", minutes=61)
    assert refused.refusal is not None
    assert refused.refusal.reason is RefusalReason.DURATION_TOO_LONG


async def test_a_replacement_takes_the_grace_period_of_now() -> None:
    w, clock = await _world(grace_minutes=5)
    await w.reserve(minutes=30)
    result = await w.reserve(minutes=40)  # the same id, the same EVSE: in place
    assert result.outcome is ReserveOutcome.ACCEPTED
    second = w.chargers.reserve_nows()[-1]
    assert second.expiry == clock() + timedelta(minutes=45)
    assert result.reservation is not None and result.reservation.grace_seconds == 300


async def test_without_grace_the_charger_gets_the_emsps_expiry() -> None:
    w, clock = await _world()
    await w.reserve(minutes=30)
    assert w.chargers.reserve_nows()[0].expiry == clock() + timedelta(minutes=30)


async def test_a_banned_token_is_refused_before_any_charger_is_asked() -> None:
    w, clock = await _world(3)
    enforcement = Enforcement(w.store, w.policy, clock=clock)
    w.service.engine.admission = enforcement
    assert (await w.reserve("LIVE", token="BAD")).outcome is ReserveOutcome.ACCEPTED
    await enforcement.set_ban(EMSP, "bad", until=clock() + timedelta(days=1),
                              reason="misuse", by="ops")
    sent = len(w.chargers.sent)
    result = await w.reserve("NEW", token="BAD")
    assert result.outcome is ReserveOutcome.REJECTED
    assert result.refusal is not None and result.refusal.reason is RefusalReason.TOKEN_BANNED
    assert "until" in result.message and "banned by the operator: misuse" in result.message
    assert len(w.chargers.sent) == sent
    assert await w.service.get(EMSP, "NEW") is None  # refused before any record
    # The reservation it had before the ban can still be changed by its eMSP.
    changed = await w.reserve("LIVE", token="BAD", minutes=45)
    assert changed.outcome is ReserveOutcome.ACCEPTED
    held = changed.evse_uid
    moved = await w.reserve("LIVE", token="BAD", evse_uid="E002")
    assert moved.outcome is ReserveOutcome.ACCEPTED and moved.evse_uid != held
    other = await w.reserve("OTHER", token="GOOD")
    assert other.outcome is ReserveOutcome.ACCEPTED
