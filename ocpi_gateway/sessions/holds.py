"""Reservations (ReserveNow) as the sessions they begin: a listener of the reservation
service's transitions telling the tracker when one is live, where it moved and how it ended.
(Bookings tell the tracker the same through ``SessionTracker.hold_live`` / ``hold_ended``.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.sessions.changes import HoldInfo
from ocpi_gateway.sessions.models import HoldEnd, SessionToken
from ocpi_gateway.sessions.tracker import SessionTracker

_ENDS = {
    ReservationState.USED: HoldEnd.USED,
    ReservationState.EXPIRED: HoldEnd.EXPIRED,
    ReservationState.CANCELLED: HoldEnd.CANCELLED,
    ReservationState.REMOVED: HoldEnd.CPO_CANCELLED,
    ReservationState.FAILED: HoldEnd.CPO_CANCELLED,
}


FreeCancellation = Callable[[str, Partner], float | None]
"""(location id, eMSP) → the policy's ``free_cancellation_minutes``."""


class ReservationSessions:
    def __init__(self, tracker: SessionTracker,
                 free_cancellation: FreeCancellation | None = None) -> None:
        self._tracker = tracker
        self._free_cancellation = free_cancellation

    async def remember_token(self, reservation_key: str, token: SessionToken,
                             authorization_reference: str | None) -> None:
        """Before the reservation is made: the OCPI token its session will show."""
        await self._tracker.repo.put_hold_token(reservation_key, token.model_dump(mode="json"),
                                                authorization_reference)

    async def on_transition(self, reservation: Reservation,
                            previous: ReservationState) -> None:
        """A ``ReservationListener``. A booking's binding is no reservation to bill (the
        booking's BOOKING elements price it)."""
        if reservation.booking_key is not None:
            return
        if reservation.live:
            if reservation.state is not ReservationState.PENDING:
                await self._tracker.hold_live(await self._info(reservation))
            return
        ended = _ENDS.get(reservation.state)
        if ended is not None:
            await self._tracker.hold_ended(reservation.key, ended)

    async def _info(self, r: Reservation) -> HoldInfo:
        noted = await self._tracker.repo.hold_token(r.key)
        if noted is not None:
            token = SessionToken.model_validate(noted["token"])
            reference = noted.get("authorization_reference")
        else:
            # Made before tokens were noted: what the record knows.
            token = SessionToken(country_code=r.country_code, party_id=r.party_id,
                                 uid=r.token_uid, type="RFID", contract_id=r.token_uid)
            reference = None
        minutes = self._free_cancellation(r.location_id, r.partner) \
            if self._free_cancellation is not None else None
        return HoldInfo(key=r.key, token=token, authorization_reference=reference,
                        location_id=r.location_id,
                        evse_uid=None if r.whole_charger else r.evse_uid,
                        charge_point_id=r.charge_point_id,
                        ocpp_reservation_id=r.ocpp_reservation_id, expiry=r.expiry,
                        free_cancellation=None if minutes is None
                        else timedelta(minutes=minutes))
