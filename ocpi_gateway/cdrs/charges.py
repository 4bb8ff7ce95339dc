"""Which finished sessions are billed, and how: every charging session (a CDR of its charging,
with the reservation or booking it began with), and a reservation or booking that ended
unused when its end is the driver's doing — it expired (a no-show), was cancelled after its
free cancellation window, or was used at the charger without a transaction following. What
the CPO's side ended (a fault, no EVSE left) is never billed."""

from __future__ import annotations

from ocpi_gateway.cdrs.models import CdrKind
from ocpi_gateway.sessions.models import HoldEnd, Session, SessionStatus


def cancelled_free(session: Session) -> bool:
    """Cancelled by the eMSP within its free window (or where cancelling is always free)."""
    hold = session.hold
    if hold is None or hold.ended is not HoldEnd.CANCELLED:
        return False
    return hold.free_until is None or hold.end is None or hold.end <= hold.free_until


def reservation_billable(session: Session) -> bool:
    """Whether the unused reservation or booking of ``session`` is the driver's to pay."""
    hold = session.hold
    if hold is None or hold.ended is None:
        return False
    if hold.ended is HoldEnd.CANCELLED:
        return not cancelled_free(session)
    return hold.ended in (HoldEnd.EXPIRED, HoldEnd.USED)


def cdr_due(session: Session) -> CdrKind | None:
    """The CDR ``session`` is billed by, once it is COMPLETED; None when none is due (not
    finished, INVALID, nobody's token, or an unused reservation nobody pays for)."""
    if session.status is not SessionStatus.COMPLETED or session.token is None:
        return None
    if session.transaction_id is not None:
        return CdrKind.SESSION
    return CdrKind.RESERVATION if reservation_billable(session) else None
