"""Why a reservation request is refused before any attempt, and what the eMSP is told."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RefusalReason(StrEnum):
    """Why no attempt is made. ``outcome_hint`` says what the eMSP should be told."""

    DISABLED = "disabled"
    DURATION_TOO_SHORT = "duration_too_short"
    DURATION_TOO_LONG = "duration_too_long"
    PARTNER_CAP_REACHED = "partner_cap_reached"
    UNKNOWN_LOCATION = "unknown_location"
    UNKNOWN_EVSE = "unknown_evse"
    NOT_RESERVABLE = "not_reservable"
    NO_CANDIDATE = "no_candidate"
    """No EVSE of the location fits the request (standard, power, reservability)."""
    ALL_BUSY = "all_busy"
    """Fitting EVSEs exist but none is free."""
    ALL_INOPERATIVE = "all_inoperative"
    """Every fitting EVSE is out of order, inoperative or unknown."""
    WALK_IN_RESERVE = "walk_in_reserve"
    PROMISED = "promised"
    """Free now, but promised to bookings (or other reservations) during the window."""
    TOKEN_BANNED = "token_banned"
    """The token is banned from reservations and bookings (no-shows, or the operator)."""
    NO_SHOW_RATE = "no_show_rate"
    """Too many of the eMSP's reservations and bookings ended unused lately."""


class OutcomeHint(StrEnum):
    """Version- and protocol-neutral result the OCPI side maps to its CommandResultType."""

    REJECTED = "rejected"
    OCCUPIED = "occupied"
    INOPERATIVE = "inoperative"


_HINTS = {
    RefusalReason.ALL_BUSY: OutcomeHint.OCCUPIED,
    RefusalReason.WALK_IN_RESERVE: OutcomeHint.OCCUPIED,
    RefusalReason.ALL_INOPERATIVE: OutcomeHint.INOPERATIVE,
}


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    message: str

    @property
    def outcome_hint(self) -> OutcomeHint:
        return _HINTS.get(self.reason, OutcomeHint.REJECTED)
