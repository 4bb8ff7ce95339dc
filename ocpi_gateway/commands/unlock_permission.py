"""Who may unlock a connector.

UNLOCK_CONNECTOR releases a cable (mod_commands: for a driver who cannot unplug), so it would let
any eMSP end another eMSP's charging or free an EVSE another eMSP reserved. It is allowed only
to the eMSP whose session or live reservation is on that EVSE, or to a partner the operator
granted the help-desk permission (``partners grant ID --helpdesk``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ocpi_gateway.partners.models import Partner
from ocpi_gateway.reservation_policy.lifecycle import ReservationService
from ocpi_gateway.reservations.candidates import CatalogProvider
from ocpi_gateway.sessions.models import Session
from ocpi_gateway.sessions.tracker import SessionTracker
from ocpi_gateway.tokens.repository import TokenRepository


class UnlockPermission:
    def __init__(self, *, catalog: CatalogProvider, reservations: ReservationService,
                 sessions: SessionTracker, tokens: TokenRepository) -> None:
        self._catalog = catalog
        self._reservations = reservations
        self._sessions = sessions
        self._tokens = tokens

    async def refusal(self, partner: Partner, location_id: str, evse_uid: str) -> str | None:
        """Why ``partner`` may not unlock a connector of this EVSE; None when it may."""
        if partner.grants.helpdesk:
            return None
        for reservation in await self._reservations.live_at_location(location_id):
            if reservation.evse_uid == evse_uid and partner.has_party(
                    reservation.country_code, reservation.party_id):
                return None
        for country_code, party_id in await self._session_owners(location_id, evse_uid):
            if partner.has_party(country_code, party_id):
                return None
        return (f"UNLOCK_CONNECTOR on EVSE {evse_uid} is allowed only to the eMSP with a "
                "session or reservation on it")

    async def _session_owners(self, location_id: str,
                              evse_uid: str) -> list[tuple[str, str]]:
        address = self._catalog().address_of(location_id, evse_uid)
        if address is None:
            return []
        sessions = [s for s in await self._sessions.active_at(address.charge_point_id)
                    if (s.location_id, s.evse_uid) == (location_id, evse_uid)]
        return [owner for session in sessions for owner in await self._owners(session)]

    async def _owners(self, session: Session) -> Iterable[tuple[str, str]]:
        """The eMSP whose token the session has, else the eMSPs owning the token presented."""
        if session.token is not None:
            return [(session.token.country_code, session.token.party_id)]
        if not session.id_token:
            return []
        return [(t.country_code, t.party_id)
                for t in await self._tokens.find_by_presented_id(session.id_token)]
