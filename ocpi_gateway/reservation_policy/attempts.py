"""Reserve attempts: a new reservation (policy decision, record, cap slot), and the walk over
a plan's candidates (hold, ReserveNow, next candidate on a refusal) shared by replacement and
re-route."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from ocpi_gateway.domain.charger_commands import CancelReservation, CommandOutcome, ReserveNow
from ocpi_gateway.reservation_policy.core import ReservationCore
from ocpi_gateway.reservation_policy.engine import Refusal, RefusalReason
from ocpi_gateway.reservation_policy.models import EvseCandidate, ReservationRequest
from ocpi_gateway.reservation_policy.plans import Plan, PlannedCandidate
from ocpi_gateway.reservation_policy.records import ChargerTarget, Reservation, ReservationState
from ocpi_gateway.reservation_policy.results import (
    ReserveOutcome,
    ReserveResult,
    failure,
    refused,
)

log = structlog.get_logger(__name__)

_RETRY = frozenset({CommandOutcome.OCCUPIED, CommandOutcome.FAULTED, CommandOutcome.UNAVAILABLE,
                    CommandOutcome.REJECTED, CommandOutcome.OFFLINE,
                    CommandOutcome.NOT_SUPPORTED})
"""Answers after which the next candidate is tried."""


@dataclass(slots=True)
class Attempt:
    record: Reservation
    """The record as last written (each ReserveNow's target is stored on it before sending)."""
    picked: PlannedCandidate | None
    ocpp_reservation_id: int | None
    answers: list[tuple[str, CommandOutcome]]

    @property
    def timed_out(self) -> bool:
        """The last charger asked gave no answer: it may still accept, so the target stays on
        the record until it is withdrawn there."""
        return bool(self.answers) and self.answers[-1][1] is CommandOutcome.TIMEOUT


async def active_for(core: ReservationCore, request: ReservationRequest) -> int:
    # Counting scans the partner's reservations: only worth it when a cap applies.
    settings = core.engine.policy.effective(request.location_id, request.partner)
    if settings.max_concurrent_per_emsp is None:
        return 0
    return await core.repo.count_live(request.partner)


def new_record(key: str, reservation_id: str, request: ReservationRequest) -> Reservation:
    return Reservation(
        key=key, country_code=request.partner.country_code.upper(),
        party_id=request.partner.party_id.upper(), reservation_id=reservation_id,
        location_id=request.location_id, token_uid=request.token_uid,
        token_type=request.token_type, group_id_token=request.group_id_token,
        expiry=request.expiry, grace_seconds=request.grace.total_seconds(),
        state=ReservationState.PENDING,
        requested_evse_uid=request.evse_uid, connector_standard=request.connector_standard,
        min_power_w=request.min_power_w, booking_key=request.booking_key)


async def reserve_new(core: ReservationCore, request: ReservationRequest, reservation_id: str,
                      key: str, ended: Reservation | None,
                      candidates: Sequence[EvseCandidate], deadline: float) -> ReserveResult:
    """A new reservation under ``key`` (``ended``: an ended one with that key, overwritten)."""
    booked = request.booking_key is not None
    active = 0 if booked else await active_for(core, request)
    # A booking's binding passed its checks when it was booked: none again (reroute_from).
    decision = await core.engine.decide(request, candidates, active_for_partner=active,
                                        reroute_from=() if booked else None)
    if isinstance(decision, Refusal):
        log.info("reservation_refused", reservation_key=key,
                 location_id=request.location_id, reason=decision.reason.value,
                 detail=decision.message)
        return refused(decision)
    record = await core.repo.start(new_record(key, reservation_id, request), ended)
    if record is None:
        return ReserveResult(ReserveOutcome.REJECTED,
                             message="a request with this reservation_id is in progress")
    cap = None if booked else decision.settings.max_concurrent_per_emsp
    if cap is not None:
        claimed = await _claim_cap_slot(core, record, cap)
        if claimed is None:
            refusal = Refusal(RefusalReason.PARTNER_CAP_REACHED,
                              f"{cap} live reservations already")
            await core.repo.transition(record, ReservationState.FAILED,
                                       reason=refusal.message)
            return ReserveResult(ReserveOutcome.REJECTED, refusal=refusal,
                                 message=refusal.message)
        record = claimed
    attempt = await try_candidates(core, record, request, decision, deadline)
    if attempt.picked is None:
        failed = await core.repo.transition(
            attempt.record, ReservationState.FAILED, reason="no charger accepted",
            attempt=attempt.record.attempt if attempt.timed_out else None)
        if failed is not None:
            await core.finish(failed)
        return failure(decision, attempt.answers, failed or attempt.record)
    active_record = await activate(core, attempt, ReservationState.ACTIVE,
                                   reason="accepted by charger")
    if active_record is None:
        return ReserveResult(ReserveOutcome.REJECTED,
                             charger_outcomes=tuple(attempt.answers),
                             message="the reservation was cancelled meanwhile")
    await core.notify(active_record, record.state)
    return ReserveResult(ReserveOutcome.ACCEPTED, reservation=active_record,
                         charger_outcomes=tuple(attempt.answers))


async def _claim_cap_slot(core: ReservationCore, record: Reservation, cap: int
                          ) -> Reservation | None:
    """The record with a partner-cap slot on it; None when ``cap`` live ones exist."""
    partner_key = record.partner.key
    # Claimed only once the record is live, so no other request can mistake the slot for one
    # left behind by an ended reservation.
    slot = await core.cap.claim(partner_key, record.key, cap, core.is_live)
    if slot is None:
        return None
    claimed = await core.repo.transition(record, ReservationState.PENDING,
                                         reason="partner cap slot", cap_slot=slot)
    if claimed is None:
        await core.cap.release(partner_key, slot, record.key)
    return claimed


async def try_candidates(core: ReservationCore, record: Reservation, request: ReservationRequest,
                         plan: Plan, deadline: float) -> Attempt:
    """Try the plan's candidates in order; on success the EVSE stays held. Each target is
    written to the record (``attempt``) before its ReserveNow is sent."""
    loop = asyncio.get_running_loop()
    holder = record.key
    tried: set[str] = set()
    answers: list[tuple[str, CommandOutcome]] = []
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            if not answers or answers[-1][1] is not CommandOutcome.TIMEOUT:
                answers.append(("", CommandOutcome.TIMEOUT))
            break
        picked = await core.engine.hold(plan, holder=holder, until=request.ends_at,
                                        skip=tried)
        if picked is None:
            break
        tried.add(picked.evse_uid)
        cp = picked.candidate.charge_point_id
        ocpp_id = await core.ids.next(cp)
        target = ChargerTarget(
            location_id=plan.location_id, evse_uid=picked.evse_uid, charge_point_id=cp,
            ocpp_reservation_id=ocpp_id, evse_id=picked.target.evse_id,
            connector_id=picked.target.connector_id, whole_charger=picked.whole_charger,
            sent_at=core.clock())
        written = await core.repo.transition(record, record.state, reason="ReserveNow sent",
                                             attempt=target)
        if written is None:
            # Ended (or moved on) by another writer meanwhile: nothing is sent.
            await core.engine.release(plan.location_id, picked.evse_uid, holder=holder)
            break
        record = written
        standard, connector_format = (
            picked.candidate.connector_kind(request.connector_standard)
            if picked.whole_charger else (None, None))
        outcome = await core.commands.execute(
            ReserveNow(charge_point_id=cp, reservation_id=ocpp_id, expiry=request.ends_at,
                       id_token=request.token_uid, id_token_type=request.token_type,
                       group_id_token=request.group_id_token,
                       evse_id=picked.target.evse_id,
                       connector_id=picked.target.connector_id,
                       connector_standard=standard, connector_format=connector_format),
            min(core.charger_timeout, remaining))
        log.info("reserve_now_answer", reservation_key=record.key, evse_uid=picked.evse_uid,
                 charge_point_id=cp, ocpp_reservation_id=ocpp_id, outcome=outcome.value,
                 whole_charger=picked.whole_charger)
        answers.append((picked.evse_uid, outcome))
        if outcome is CommandOutcome.ACCEPTED:
            return Attempt(record, picked, ocpp_id, answers)
        await core.engine.release(plan.location_id, picked.evse_uid, holder=holder)
        if outcome is CommandOutcome.TIMEOUT:
            # A silent charger may still accept late: withdraw the id there, quietly.
            core.in_background(withdraw(core, record.key, target))
            break
        if outcome not in _RETRY:
            break
    return Attempt(record, None, None, answers)


async def activate(core: ReservationCore, attempt: Attempt, state: ReservationState, *,
                   reason: str, **changes: object) -> Reservation | None:
    """Put the accepted target on the record; None (and the charger's reservation withdrawn)
    when another writer ended the reservation meanwhile."""
    picked = attempt.picked
    assert picked is not None
    record = attempt.record
    updated = await core.repo.transition(
        record, state, reason=reason, evse_uid=picked.evse_uid,
        charge_point_id=picked.candidate.charge_point_id,
        ocpp_reservation_id=attempt.ocpp_reservation_id,
        evse_id=picked.target.evse_id, connector_id=picked.target.connector_id,
        whole_charger=picked.whole_charger, attempt=None, **changes)
    if updated is None:
        # Cancelled or ended by another writer while the charger was asked: undo there.
        await core.engine.release(picked.candidate.location_id, picked.evse_uid,
                                  holder=record.key)
        if record.attempt is not None:
            core.in_background(withdraw(core, record.key, record.attempt))
    return updated


async def withdraw(core: ReservationCore, key: str, target: ChargerTarget, *,
                   locked: bool = False) -> bool:
    """CancelReservation at the target's charger for a ReserveNow the record does not stand
    on; once the charger answered (or the reservation expired there by itself), drop the
    attempt from the record. False when it must be tried again (charger offline, silent).
    ``locked``: the caller holds the key's lock (else it is taken for the record's update,
    so that the reservation's own worker is never overtaken)."""
    outcome = await core.commands.execute(
        CancelReservation(charge_point_id=target.charge_point_id,
                          reservation_id=target.ocpp_reservation_id),
        core.charger_timeout)
    log.info("reservation_attempt_withdrawn", reservation_key=key,
             charge_point_id=target.charge_point_id,
             ocpp_reservation_id=target.ocpp_reservation_id, outcome=outcome.value)
    if locked:
        return await _drop_attempt(core, key, target, outcome)
    async with core.lock(key):
        return await _drop_attempt(core, key, target, outcome)


async def _drop_attempt(core: ReservationCore, key: str, target: ChargerTarget,
                        outcome: CommandOutcome) -> bool:
    current = await core.repo.get(key)
    if outcome in _NO_ANSWER and current is not None and current.ends_at > core.clock():
        return False
    if current is not None and current.attempt == target:
        await core.repo.settle_attempt(current, reason=f"withdrawn at the charger: "
                                                       f"{outcome.value}")
    return True


_NO_ANSWER = frozenset({CommandOutcome.OFFLINE, CommandOutcome.TIMEOUT})
