"""What the reservation service answers: the typed results of reserve and cancel, and how a
sequence of charger answers becomes one outcome."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.reservation_policy.engine import OutcomeHint, Refusal
from ocpi_gateway.reservation_policy.plans import Plan
from ocpi_gateway.reservation_policy.records import Reservation


class ReserveOutcome(StrEnum):
    ACCEPTED = "accepted"
    OCCUPIED = "occupied"
    INOPERATIVE = "inoperative"
    REJECTED = "rejected"
    OFFLINE = "offline"
    TIMEOUT = "timeout"
    NOT_SUPPORTED = "not_supported"


@dataclass(frozen=True, slots=True)
class ReserveResult:
    outcome: ReserveOutcome
    reservation: Reservation | None = None
    refusal: Refusal | None = None
    """Set when the policy refused before any charger was asked."""
    charger_outcomes: tuple[tuple[str, CommandOutcome], ...] = ()
    """(evse_uid, answer) of every charger asked, in order."""
    message: str = ""

    @property
    def evse_uid(self) -> str | None:
        return self.reservation.evse_uid if self.reservation else None

    @property
    def ocpp_reservation_id(self) -> int | None:
        return self.reservation.ocpp_reservation_id if self.reservation else None


class CancelOutcome(StrEnum):
    ACCEPTED = "accepted"
    UNKNOWN_RESERVATION = "unknown_reservation"


@dataclass(frozen=True, slots=True)
class CancelResult:
    outcome: CancelOutcome
    reservation: Reservation | None = None
    charger_outcome: CommandOutcome | None = None


_PRIORITY = (
    (CommandOutcome.OCCUPIED, ReserveOutcome.OCCUPIED),
    (CommandOutcome.FAULTED, ReserveOutcome.INOPERATIVE),
    (CommandOutcome.UNAVAILABLE, ReserveOutcome.INOPERATIVE),
    (CommandOutcome.REJECTED, ReserveOutcome.REJECTED),
    (CommandOutcome.OFFLINE, ReserveOutcome.OFFLINE),
    (CommandOutcome.NOT_SUPPORTED, ReserveOutcome.NOT_SUPPORTED),
)
HINT_OUTCOME = {OutcomeHint.REJECTED: ReserveOutcome.REJECTED,
                OutcomeHint.OCCUPIED: ReserveOutcome.OCCUPIED,
                OutcomeHint.INOPERATIVE: ReserveOutcome.INOPERATIVE}


def final_outcome(answers: Sequence[CommandOutcome]) -> ReserveOutcome:
    """The one outcome of a sequence of charger answers: the last one when it timed out, else
    the most telling of them."""
    if answers[-1] is CommandOutcome.TIMEOUT:
        return ReserveOutcome.TIMEOUT
    for answer, outcome in _PRIORITY:
        if answer in answers:
            return outcome
    return ReserveOutcome.REJECTED


def refused(refusal: Refusal, reservation: Reservation | None = None) -> ReserveResult:
    return ReserveResult(HINT_OUTCOME[refusal.outcome_hint], reservation=reservation,
                         refusal=refusal, message=refusal.message)


def failure(plan: Plan, answers: Sequence[tuple[str, CommandOutcome]],
            reservation: Reservation) -> ReserveResult:
    """No charger accepted: why, from the answers, or from the snapshot when nothing could
    be held."""
    if not answers:
        return refused(plan.nothing_held, reservation)
    return ReserveResult(final_outcome([a for _, a in answers]), reservation=reservation,
                         charger_outcomes=tuple(answers), message=describe_answers(answers))


def describe_answers(answers: Collection[tuple[str, CommandOutcome]]) -> str:
    if not answers:
        return "no free EVSE could be held"
    return ", ".join(f"{uid or '-'}: {outcome.value}" for uid, outcome in answers)
