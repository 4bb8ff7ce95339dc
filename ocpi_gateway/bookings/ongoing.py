"""The transactions in progress as the durable store holds them (the OCPI Sessions ACTIVE),
for the bookings' planner to adopt (``SessionWatch.adopt``): each one as the
TransactionStarted it came from."""

from __future__ import annotations

from ocpi_gateway.domain.events import TransactionStarted
from ocpi_gateway.reservation_policy.bookings.sessions import Ongoing, OngoingAt
from ocpi_gateway.sessions.models import HoldEnd, Session
from ocpi_gateway.sessions.repository import SessionRepository


def ongoing_of(session: Session) -> Ongoing | None:
    """None: the session has no transaction."""
    if session.charge_point_id is None or session.transaction_id is None:
        return None
    hold = session.hold
    # A transaction bound to its reservation's session used that reservation (by its id or
    # by the token: either names the same booking).
    reservation_id = hold.ocpp_reservation_id \
        if hold is not None and hold.ended is HoldEnd.USED else None
    return Ongoing(TransactionStarted(
        charge_point_id=session.charge_point_id, transaction_id=session.transaction_id,
        evse_id=session.ocpp_evse_id, connector_id=session.ocpp_connector_id,
        id_token=session.id_token, reservation_id=reservation_id,
        timestamp=session.start_date_time), session.evse_uid)


def ongoing_sessions(repo: SessionRepository) -> OngoingAt:
    async def ongoing(charge_point_id: str | None) -> list[Ongoing]:
        return [o for s in await repo.running(charge_point_id)
                if (o := ongoing_of(s)) is not None]
    return ongoing
