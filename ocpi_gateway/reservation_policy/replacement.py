"""Replacing a live reservation by a RESERVE_NOW with the same (eMSP, reservation_id): in place
when the EVSE stays (OCPP replaces a reservation sent again with its id, H01.FR.02), else a new
EVSE first and the old one withdrawn after; when no new EVSE can be had the old one stays."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import structlog

from ocpi_gateway.domain.charger_commands import CommandOutcome, ReserveNow
from ocpi_gateway.reservation_policy.attempts import activate, active_for, try_candidates
from ocpi_gateway.reservation_policy.capacity.base import Admission
from ocpi_gateway.reservation_policy.core import ReservationCore
from ocpi_gateway.reservation_policy.engine import Refusal, RefusalReason
from ocpi_gateway.reservation_policy.models import EvseCandidate, ReservationRequest
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.reservation_policy.results import (
    ReserveOutcome,
    ReserveResult,
    failure,
    final_outcome,
    refused,
)
from ocpi_gateway.reservation_policy.rules import Exclusion, exclusion_of

log = structlog.get_logger(__name__)


async def replace_reservation(core: ReservationCore, existing: Reservation,
                              request: ReservationRequest,
                              candidates: Sequence[EvseCandidate], deadline: float
                              ) -> ReserveResult:
    if existing.state is ReservationState.PENDING:
        # Left PENDING by an instance that stopped mid-attempt: the EVSE it may have held
        # is not on the record yet, so find it by holder before trying again.
        await release_held_by(core, existing)
    changes: dict[str, object] = {
        "token_uid": request.token_uid, "token_type": request.token_type,
        "group_id_token": request.group_id_token, "expiry": request.expiry,
        "grace_seconds": request.grace.total_seconds(),
        "requested_evse_uid": request.evse_uid,
        "connector_standard": request.connector_standard,
        "min_power_w": request.min_power_w, "location_id": request.location_id}
    if keeps_evse(existing, request, candidates):
        return await _replace_in_place(core, existing, request, candidates, deadline, changes)
    active = max(0, await active_for(core, request) - 1)
    decision = await core.engine.decide(request, candidates, active_for_partner=active,
                                        replacing=True)
    if isinstance(decision, Refusal):
        return refused(decision, existing)
    attempt = await try_candidates(core, existing, request, decision, deadline)
    if attempt.picked is None:
        # The old reservation stays; a refused target is nothing at its charger.
        kept = attempt.record
        if kept.attempt is not None and not attempt.timed_out:
            kept = await core.repo.settle_attempt(kept, reason="refused") or kept
        return failure(decision, attempt.answers, kept)
    updated = await activate(core, attempt, ReservationState.ACTIVE, reason="replaced",
                             **changes)
    if updated is None:
        return ReserveResult(ReserveOutcome.REJECTED, charger_outcomes=tuple(attempt.answers),
                             message="the reservation ended meanwhile")
    if existing.evse_uid != updated.evse_uid or existing.location_id != updated.location_id:
        await core.release(existing)
    await core.notify(updated, existing.state)
    # The new reservation stands; withdrawing the old one must not delay the answer.
    core.in_background(core.cancel_quietly(existing))
    return ReserveResult(ReserveOutcome.ACCEPTED, reservation=updated,
                         charger_outcomes=tuple(attempt.answers))


async def release_held_by(core: ReservationCore, r: Reservation) -> None:
    """Release every EVSE of the location held by the reservation's key."""
    snapshot = await core.engine.availability.location(r.location_id)
    for uid, avail in snapshot.items():
        if avail.holder == r.key:
            await core.engine.release(r.location_id, uid, holder=r.key)


async def promise_until(core: ReservationCore, r: Reservation,
                   candidates: Sequence[EvseCandidate], until: datetime) -> Admission | None:
    """The reservation's promise on the capacity timeline moved to end at ``until`` (None
    where bookings are not possible)."""
    gate = core.engine.capacity
    if gate is None or r.evse_uid is None or not gate.applies(r.location_id):
        return None
    settings = core.engine.policy.effective(r.location_id, r.partner)
    return await gate.admit(r.location_id, candidates, r.evse_uid, holder=r.key, until=until,
                            settings=settings)


async def _replace_in_place(core: ReservationCore, existing: Reservation,
                            request: ReservationRequest, candidates: Sequence[EvseCandidate],
                            deadline: float, changes: dict[str, object]) -> ReserveResult:
    assert existing.charge_point_id is not None
    assert existing.ocpp_reservation_id is not None
    # A longer reservation must fit beside the bookings before the charger is asked; a
    # shorter one always fits, and is promised once the charger took it.
    extending = request.ends_at > existing.ends_at
    if extending:
        admission = await promise_until(core, existing, candidates, request.ends_at)
        if admission is not None and not admission.ok:
            refusal = Refusal(RefusalReason.PROMISED, "the EVSE is promised to bookings: "
                              + admission.describe())
            return refused(refusal, existing)
    outcome = await reserve_again(core, existing, request, deadline, candidates)
    answers = ((existing.evse_uid or "", outcome),)
    if outcome is not CommandOutcome.ACCEPTED:
        if extending:
            await promise_until(core, existing, candidates, existing.ends_at)
        return ReserveResult(final_outcome([outcome]), reservation=existing,
                             charger_outcomes=answers,
                             message="the charger refused the update; the reservation "
                                     "is unchanged")
    updated = await core.repo.transition(existing, ReservationState.ACTIVE,
                                         reason="replaced in place", **changes)
    if updated is None:
        return ReserveResult(ReserveOutcome.REJECTED, charger_outcomes=answers,
                             message="the reservation ended meanwhile")
    if not extending:
        await promise_until(core, updated, candidates, updated.ends_at)
    await extend_hold(core, updated)
    return ReserveResult(ReserveOutcome.ACCEPTED, reservation=updated,
                         charger_outcomes=answers)


async def reserve_again(core: ReservationCore, r: Reservation, request: ReservationRequest,
                        deadline: float, candidates: Sequence[EvseCandidate]
                        ) -> CommandOutcome:
    """ReserveNow on the reservation's own target with its OCPP id: the charger replaces it
    (H01.FR.02) with the request's token and expiry."""
    assert r.charge_point_id is not None and r.ocpp_reservation_id is not None
    loop = asyncio.get_running_loop()
    own = next((c for c in candidates if c.evse_uid == r.evse_uid), None)
    standard, connector_format = (own.connector_kind(request.connector_standard)
                                  if own is not None and r.whole_charger else (None, None))
    return await core.commands.execute(
        ReserveNow(charge_point_id=r.charge_point_id,
                   reservation_id=r.ocpp_reservation_id, expiry=request.ends_at,
                   id_token=request.token_uid, id_token_type=request.token_type,
                   group_id_token=request.group_id_token, evse_id=r.evse_id,
                   connector_id=r.connector_id, connector_standard=standard,
                   connector_format=connector_format),
        max(0.001, min(core.charger_timeout, deadline - loop.time())))


def keeps_evse(existing: Reservation, request: ReservationRequest,
               candidates: Sequence[EvseCandidate]) -> bool:
    if (existing.state is ReservationState.PENDING or existing.evse_uid is None
            or existing.location_id != request.location_id
            or request.evse_uid not in (None, existing.evse_uid)):
        return False
    current = next((c for c in candidates if c.evse_uid == existing.evse_uid), None)
    if current is None:
        return False
    why = exclusion_of(current, None, request)
    # Availability-based reasons are expected: the EVSE is held and reserved by us.
    return why is None or why[0] is Exclusion.UNKNOWN_STATUS


async def extend_hold(core: ReservationCore, r: Reservation) -> None:
    # The hold ends at the old expiry; take it again until the new one. While the charger
    # shows the EVSE Reserved nobody else can pick it anyway, so a failed re-hold is fine.
    if r.evse_uid is None:
        return
    avail = core.engine.availability
    current = await avail.get(r.location_id, r.evse_uid)
    if current is not None and current.hold_until is not None \
            and current.hold_until >= r.ends_at:
        return
    await core.engine.release(r.location_id, r.evse_uid, holder=r.key, keep_promise=True)
    if await avail.pick_and_hold(r.location_id, [r.evse_uid], holder=r.key,
                                 until=r.ends_at) is None:
        log.info("reservation_hold_not_extended", **r.ids)
