"""An operator's acts on a live reservation: move it to another EVSE of its location, give it
a new expiry. Both take the steps of an eMSP's replacement (``replacement.py``): the policy's
decision on the target (the request's connector and power still apply), the atomic hold with
its capacity admission, ReserveNow, and the old OCPP reservation withdrawn once the new one
stands. A move ends REROUTED (moved by the CPO: the eMSP's session and a booking follow it);
an extension keeps the state. The listeners are told either way. When the act cannot be done
the reservation stays exactly as it was."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import structlog

from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.reservation_policy.attempts import activate, try_candidates
from ocpi_gateway.reservation_policy.core import ReservationCore
from ocpi_gateway.reservation_policy.engine import Refusal
from ocpi_gateway.reservation_policy.models import ReservationRequest
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.reservation_policy.replacement import (
    extend_hold,
    promise_until,
    reserve_again,
)
from ocpi_gateway.reservation_policy.results import describe_answers

log = structlog.get_logger(__name__)


class ActOutcome(StrEnum):
    DONE = "done"
    NOT_FOUND = "not_found"
    NOT_LIVE = "not_live"
    REFUSED = "refused"
    """The target does not fit or is busy, the capacity is promised, the charger said no."""


@dataclass(frozen=True, slots=True)
class ActResult:
    outcome: ActOutcome
    reservation: Reservation | None = None
    message: str = ""
    charger_outcomes: tuple[tuple[str, CommandOutcome], ...] = ()


def _request(r: Reservation, *, evse_uid: str | None, expiry: datetime) -> ReservationRequest:
    return ReservationRequest(
        location_id=r.location_id, evse_uid=evse_uid, partner=r.partner,
        token_uid=r.token_uid, expiry=expiry, grace=timedelta(seconds=r.grace_seconds),
        token_type=r.token_type, group_id_token=r.group_id_token,
        connector_standard=r.connector_standard, min_power_w=r.min_power_w,
        whole_charger_allowed=False, booking_key=r.booking_key)


def _not_actionable(key: str, r: Reservation | None) -> ActResult | None:
    if r is None:
        return ActResult(ActOutcome.NOT_FOUND, message=f"no reservation {key}")
    if not r.live:
        return ActResult(ActOutcome.NOT_LIVE, r, f"reservation {key} is {r.state.value}, "
                         "not live")
    if r.state is ReservationState.PENDING or r.evse_uid is None:
        return ActResult(ActOutcome.REFUSED, r, f"reservation {key} is still being made at a "
                         "charger; try again in a moment")
    return None


async def move(core: ReservationCore, key: str, evse_uid: str, *, reason: str,
               time_budget: float) -> ActResult:
    """Move a live reservation to ``evse_uid`` of its location."""
    deadline = asyncio.get_running_loop().time() + time_budget
    async with core.lock(key):
        r = await core.repo.get(key)
        if (why := _not_actionable(key, r)) is not None:
            return why
        assert r is not None and r.evse_uid is not None
        candidates = await core.candidates.candidates(r.location_id)
        target = next((c for c in candidates if c.evse_uid.casefold() == evse_uid.casefold()),
                      None)
        if target is None:
            return ActResult(ActOutcome.REFUSED, r,
                             f"EVSE {evse_uid} is not at location {r.location_id}")
        if target.evse_uid == r.evse_uid and not r.whole_charger:
            return ActResult(ActOutcome.REFUSED, r, f"the reservation is on {r.evse_uid} "
                             "already")
        request = _request(r, evse_uid=target.evse_uid, expiry=r.expiry)
        # A live reservation's checks (duration, cap, bans) were passed when it was made:
        # only the target's fit and freeness are decided now.
        decision = await core.engine.decide(request, candidates, reroute_from={r.evse_uid})
        if isinstance(decision, Refusal):
            return ActResult(ActOutcome.REFUSED, r, f"EVSE {target.evse_uid} cannot take it: "
                             f"{decision.message}")
        attempt = await try_candidates(core, r, request, decision, deadline)
        if attempt.picked is None:
            kept = attempt.record
            if kept.attempt is not None and not attempt.timed_out:
                kept = await core.repo.settle_attempt(kept, reason="move refused") or kept
            told = describe_answers(attempt.answers) if attempt.answers \
                else decision.nothing_held.message
            return ActResult(ActOutcome.REFUSED, kept,
                             f"EVSE {target.evse_uid} cannot take it: {told}",
                             tuple(attempt.answers))
        moved = await activate(core, attempt, ReservationState.REROUTED, reason=reason,
                               requested_evse_uid=target.evse_uid)
        if moved is None:
            return ActResult(ActOutcome.NOT_LIVE, await core.repo.get(key),
                             "the reservation ended meanwhile")
        await core.release(r)
        await core.notify(moved, r.state)
        # The new reservation stands; withdrawing the old one must not delay the answer.
        core.in_background(core.cancel_quietly(r))
        log.info("reservation_moved", from_evse=r.evse_uid, **moved.ids)
        return ActResult(ActOutcome.DONE, moved, charger_outcomes=tuple(attempt.answers))


async def extend(core: ReservationCore, key: str, expiry: datetime, *, reason: str,
                 time_budget: float) -> ActResult:
    """Give a live reservation a new expiry (later or earlier) on its EVSE: ReserveNow again
    with its OCPP id (the charger replaces it, H01.FR.02), a longer one admitted beside the
    bookings first."""
    deadline = asyncio.get_running_loop().time() + time_budget
    async with core.lock(key):
        r = await core.repo.get(key)
        if (why := _not_actionable(key, r)) is not None:
            return why
        assert r is not None
        if r.booking_key is not None:
            return ActResult(ActOutcome.REFUSED, r, "a booking's reservation runs to its "
                             "booking's no-show time: change the booking")
        if expiry <= core.clock():
            return ActResult(ActOutcome.REFUSED, r, "the new expiry is in the past")
        request = _request(r, evse_uid=r.evse_uid, expiry=expiry)
        candidates = await core.candidates.candidates(r.location_id)
        extending = request.ends_at > r.ends_at
        if extending:
            admission = await promise_until(core, r, candidates, request.ends_at)
            if admission is not None and not admission.ok:
                return ActResult(ActOutcome.REFUSED, r, "the EVSE is promised to bookings: "
                                 + admission.describe())
        outcome = await reserve_again(core, r, request, deadline, candidates)
        answers = ((r.evse_uid or "", outcome),)
        if outcome is not CommandOutcome.ACCEPTED:
            if extending:
                await promise_until(core, r, candidates, r.ends_at)
            return ActResult(ActOutcome.REFUSED, r, f"the charger answered {outcome.value}; "
                             "the reservation is unchanged", answers)
        updated = await core.repo.transition(r, r.state, reason=reason, expiry=expiry)
        if updated is None:
            return ActResult(ActOutcome.NOT_LIVE, await core.repo.get(key),
                             "the reservation ended meanwhile", answers)
        if not extending:
            await promise_until(core, updated, candidates, updated.ends_at)
        await extend_hold(core, updated)
        await core.notify(updated, r.state)
        log.info("reservation_extended", previous_expiry=r.expiry.isoformat(), **updated.ids)
        return ActResult(ActOutcome.DONE, updated, charger_outcomes=answers)
