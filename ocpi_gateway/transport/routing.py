"""OCPI-from-* / OCPI-to-* routing headers of functional modules (transport_and_format)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

from aiohttp import web
from multidict import CIMultiDictProxy, istr

from ocpi_gateway.partners.grants import HUB
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.transport.context import Party, Routing
from ocpi_gateway.transport.envelope import OcpiError
from ocpi_gateway.transport.status_codes import OcpiStatus

FROM_COUNTRY, FROM_PARTY = "OCPI-from-country-code", "OCPI-from-party-id"
TO_COUNTRY, TO_PARTY = "OCPI-to-country-code", "OCPI-to-party-id"
LOOKUP_NAMES = (istr(FROM_COUNTRY), istr(FROM_PARTY), istr(TO_COUNTRY), istr(TO_PARTY))
"""The same names as ``istr``, to look them up in a request's headers without case-folding
each name on every request."""


def _pair(headers: CIMultiDictProxy[str], country: str, party: str) -> Party | None:
    country_value, party_value = headers.get(country), headers.get(party)
    if country_value is None and party_value is None:
        return None
    if not country_value or not party_value:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"{country} and {party} must be sent together")
    if len(country_value) != 2 or len(party_value) != 3:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"{country} must have 2 and {party} 3 characters")
    return Party(country_value.upper(), party_value.upper())


class HubReports(Protocol):
    """The parties each hub reported (HubClientInfo); see hubclientinfo.repository."""

    async def refusal(self, partner: Partner, sender: Party) -> str | None: ...


HUB_REPORTS: web.AppKey[HubReports] = web.AppKey("hub_reports")


def _is_hub(partner: Partner) -> bool:
    return any(role.role == HUB for role in partner.roles)


def hub_forwarding_refusal(partner: Partner, sender: Party) -> str | None:
    """Why a hub may not act for ``sender`` (None: it may).

    A hub forwards for its connected parties: "Hub to receiving platform" carries the
    requesting party in OCPI-from-* (transport_and_format, Party to Party via Hub), and its
    credentials list only its HUB role (credentials). It may act only for the parties the
    operator granted it. The parties a hub reports (HubClientInfo) are the second check, made
    by the transport middleware through ``HUB_REPORTS``: both must hold."""
    if not _is_hub(partner):
        return f"{sender.key} is not a role of this partner"
    if not partner.grants.may_forward_for(sender.country_code, sender.party_id):
        return f"this hub is not granted to forward for {sender.key}"
    return None


def resolve_routing(
    headers: CIMultiDictProxy[str], partner: Partner, our_parties: Sequence[Party]
) -> Routing:
    """Check the headers against the partner's roles and ours.

    Absent headers are accepted when that side has a single role (which is then implied)."""
    sender = _pair(headers, FROM_COUNTRY, FROM_PARTY)
    if sender is None:
        if len(partner.roles) != 1:
            raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                            f"{FROM_COUNTRY}/{FROM_PARTY} required: the partner has several roles")
        sender = Party(partner.roles[0].country_code.upper(), partner.roles[0].party_id.upper())
    elif not partner.has_party(sender.country_code, sender.party_id):
        refusal = hub_forwarding_refusal(partner, sender)
        if refusal is not None:
            raise OcpiError(OcpiStatus.CLIENT_ERROR, f"{FROM_COUNTRY}/{FROM_PARTY}: {refusal}",
                            http_status=401)
    receiver = _pair(headers, TO_COUNTRY, TO_PARTY)
    if receiver is None:
        if len(our_parties) != 1:
            raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                            f"{TO_COUNTRY}/{TO_PARTY} required: this platform serves several CPOs")
        receiver = our_parties[0]
    elif receiver not in our_parties:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        f"{TO_COUNTRY}/{TO_PARTY} {receiver.key} is not a CPO of this platform")
    return Routing(sender, receiver)


@functools.lru_cache(maxsize=1024)
def _swapped(routing: Routing) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    if routing.receiver is not None:
        pairs += [(FROM_COUNTRY, routing.receiver.country_code),
                  (FROM_PARTY, routing.receiver.party_id)]
    if routing.sender is not None:
        pairs += [(TO_COUNTRY, routing.sender.country_code),
                  (TO_PARTY, routing.sender.party_id)]
    return tuple(pairs)


def response_headers(routing: Routing) -> dict[str, str]:
    """The request's routing swapped: we answer from its receiver to its sender. A new dict
    on every call (the cache keeps only immutable pairs): callers add to it."""
    return dict(_swapped(routing))
