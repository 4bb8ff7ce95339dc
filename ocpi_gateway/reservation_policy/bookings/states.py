"""The state machines of a booking and of each request made on it (OCPI 2.3.0 Bookings,
"Flow and Lifecycle"), spelled as OCPI spells them.

A booking: PENDING -> RESERVED | REJECTED | FAILED; RESERVED -> FULFILLED | CANCELED |
NO_SHOW. A PENDING booking waiting on the waiting list that its eMSP withdraws ends
CANCELED (docs/protocol-notes.md: the text names no state for it, and REJECTED would say
the CPO refused). PENDING -> PENDING puts it on the waiting list or decides a change asked
meanwhile; RESERVED -> RESERVED is a change decided or a binding onto an EVSE.

A request (the first POST, each change, a cancellation): PENDING -> ACCEPTED | DECLINED |
FAILED, once.
"""

from __future__ import annotations

from enum import StrEnum


class BookingState(StrEnum):
    PENDING = "PENDING"
    RESERVED = "RESERVED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    FULFILLED = "FULFILLED"
    CANCELED = "CANCELED"
    NO_SHOW = "NO_SHOW"


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"


class CancelReason(StrEnum):
    """OCPI CanceledReason."""

    POWER_OUTAGE = "POWER_OUTAGE"
    BROKEN_CHARGER = "BROKEN_CHARGER"
    FULL = "FULL"
    BLOCKED = "BLOCKED"
    TRAFFIC = "TRAFFIC"
    BROKEN_VEHICLE = "BROKEN_VEHICLE"
    NO_CANCELED = "NO_CANCELED"
    UNKNOWN = "UNKNOWN"


class CanceledBy(StrEnum):
    """The OCPI Role that canceled."""

    CPO = "CPO"
    EMSP = "EMSP"


LIVE_STATES = frozenset({BookingState.PENDING, BookingState.RESERVED})
FINAL_STATES = frozenset(BookingState) - LIVE_STATES

_NEXT: dict[BookingState, frozenset[BookingState]] = {
    BookingState.PENDING: frozenset({BookingState.PENDING, BookingState.RESERVED,
                                     BookingState.REJECTED, BookingState.FAILED,
                                     BookingState.CANCELED}),
    BookingState.RESERVED: frozenset({BookingState.RESERVED, BookingState.FULFILLED,
                                      BookingState.CANCELED, BookingState.NO_SHOW}),
}


class TransitionError(ValueError):
    """A transition the state machine does not have (a bug of the caller, not of input)."""


def allowed(current: BookingState, target: BookingState) -> bool:
    return target in _NEXT.get(current, frozenset())


def check(current: BookingState, target: BookingState) -> None:
    if not allowed(current, target):
        raise TransitionError(f"booking {current.value} -> {target.value} is not allowed")


def check_request(current: RequestStatus, target: RequestStatus) -> None:
    """A request is decided once: from PENDING to anything else."""
    if current is not RequestStatus.PENDING or target is RequestStatus.PENDING:
        raise TransitionError(f"request {current.value} -> {target.value} is not allowed")
