"""Real-time authorization at the eMSP that owns a token (mod_tokens, POST {token_uid}/authorize).

Asked for tokens whose whitelist is NEVER (the CPO SHALL ask) or ALLOWED_OFFLINE (ask, and fall
back to the whitelist when the eMSP cannot be reached). A driver waits at the charger meanwhile,
so the question has a short deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import quote

import structlog

from ocpi_gateway.domain.authorization import AuthorizationStatus
from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.partners.client import OcpiClient, OcpiClientError
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.tokens.models import LocationReferences, Token

log = structlog.get_logger(__name__)

ALLOWED_TO_OCPP = {
    "ALLOWED": AuthorizationStatus.ACCEPTED,
    "BLOCKED": AuthorizationStatus.BLOCKED,
    "EXPIRED": AuthorizationStatus.EXPIRED,
    # OCPP 1.6 has no NoCredit or NotAtThisLocation: the driver is simply not admitted.
    "NO_CREDIT": AuthorizationStatus.INVALID,
    "NOT_ALLOWED": AuthorizationStatus.INVALID,
}

LocationReferencesFor = Callable[[str], tuple[LocationReferences, tuple[str, str]] | None]
"""charge point id → (LocationReferences of the charger's location, owning CPO party)."""


class RealtimeAuthorizer:
    def __init__(self, partners: PartnerRegistry, client: OcpiClient,
                 references: LocationReferencesFor, *, timeout: float = 3.0) -> None:
        self._partners = partners
        self._client = client
        self._references = references
        self._timeout = timeout

    async def ask(self, token: Token, charge_point_id: str) -> AuthorizationStatus | None:
        """The eMSP's answer, or None when it cannot give one (no tokens SENDER endpoint,
        unreachable, too slow, an answer that is no AuthorizationInfo)."""
        partner = await self._partners.by_party(token.country_code, token.party_id)
        if partner is None or partner.token_to_send is None:
            return None
        endpoint = partner.endpoint("tokens", "SENDER")
        if endpoint is None:
            return None
        url = f"{endpoint.rstrip('/')}/{quote(token.uid, safe='')}/authorize?type={token.type}"
        headers = {"OCPI-to-country-code": token.country_code,
                   "OCPI-to-party-id": token.party_id}
        body = None
        found = self._references(charge_point_id)
        if found is not None:
            references, (country_code, party_id) = found
            # In the version the eMSP negotiated, as every body sent to it.
            body = to_jsonable(package(partner.version).tokens.location_references(references))
            headers["OCPI-from-country-code"] = country_code
            headers["OCPI-from-party-id"] = party_id
        try:
            reply = await asyncio.wait_for(self._client.request(
                "POST", url, partner.token_to_send, base64_token=partner.send_base64,
                json=body, headers=headers), self._timeout)
        except (OcpiClientError, TimeoutError) as exc:
            log.warning("realtime_authorization_unreachable", partner_id=partner.id,
                        token_uid=token.uid, error=str(exc))
            return None
        if reply.http_status == 404:
            return AuthorizationStatus.INVALID  # the eMSP does not know the token
        data = reply.data if reply.ok else None
        allowed = data.get("allowed") if isinstance(data, dict) else None
        status = ALLOWED_TO_OCPP.get(str(allowed))
        if status is None:
            log.warning("realtime_authorization_unusable", partner_id=partner.id,
                        token_uid=token.uid, http_status=reply.http_status)
        return status
