"""An operator moves a live reservation to another EVSE of its site or gives it a new expiry,
through the reservation core (``reservation_policy/acts.py``): the charger gets ReserveNow
(and CancelReservation at the old EVSE), the eMSP's session follows. Refused (409, naming
why) when the target does not fit or is busy, the charger says no, or a longer reservation
would take what bookings were promised; the reservation is then unchanged."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ocpi_gateway.admin.service.errors import Conflict, NotFound
from ocpi_gateway.admin.service.reservations import ReservationView, view
from ocpi_gateway.reservation_policy.acts import ActOutcome, ActResult
from ocpi_gateway.reservation_policy.lifecycle import ReservationService

OPERATOR_MOVED = "moved by the operator"
OPERATOR_EXTENDED = "expiry changed by the operator"


class MoveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evse_uid: str = Field(min_length=1, max_length=36,
                          description="an EVSE of the reservation's location")
    note: str | None = Field(default=None, max_length=200,
                             description="why, kept in the reservation's history")


class ExtendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expiry_date: AwareDatetime = Field(
        description="the new expiry (the eMSP's expiry_date; the policy's grace follows it)")
    note: str | None = Field(default=None, max_length=200,
                             description="why, kept in the reservation's history")


class ChargerAnswer(BaseModel):
    evse_uid: str
    outcome: str


class ReservationActAnswer(BaseModel):
    reservation: ReservationView
    charger_answers: list[ChargerAnswer]
    """ReserveNow's answer from each charger asked."""


def _reason(what: str, operator: str, note: str | None) -> str:
    return f"{what} {operator}" + (f": {note}" if note else "")


def _answer(result: ActResult) -> ReservationActAnswer:
    if result.outcome is ActOutcome.DONE and result.reservation is not None:
        return ReservationActAnswer(
            reservation=view(result.reservation, with_history=True),
            charger_answers=[ChargerAnswer(evse_uid=uid, outcome=outcome.value)
                             for uid, outcome in result.charger_outcomes])
    if result.outcome is ActOutcome.NOT_FOUND:
        raise NotFound(result.message)
    raise Conflict(result.message)


async def move_reservation(service: ReservationService, key: str, body: MoveBody, *,
                           operator: str, time_budget: float) -> ReservationActAnswer:
    return _answer(await service.move_by_cpo(
        key, body.evse_uid, reason=_reason(OPERATOR_MOVED, operator, body.note),
        time_budget=time_budget))


async def extend_reservation(service: ReservationService, key: str, body: ExtendBody, *,
                             operator: str, time_budget: float) -> ReservationActAnswer:
    expiry: datetime = body.expiry_date
    return _answer(await service.extend_by_cpo(
        key, expiry, reason=_reason(OPERATOR_EXTENDED, operator, body.note),
        time_budget=time_budget))
