"""The RECEIVER endpoint through which an object meant for one party (a Session, a CDR, for
the eMSP owning its token) reaches it: the partner holding that role, else a hub the operator
lets forward for it (then the request names the party in OCPI-to-*)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ocpi_gateway.ocpi import DEFAULT_VERSION
from ocpi_gateway.partners.grants import HUB
from ocpi_gateway.partners.models import Partner


@dataclass(frozen=True, slots=True)
class PartyReceiver:
    partner_id: str
    url: str
    """The module's endpoint, without a trailing slash."""
    version: str
    to_party: tuple[str, str]


def receiver_for(partners: Sequence[Partner], module: str, country_code: str,
                 party_id: str) -> PartyReceiver | None:
    party = (country_code, party_id)
    hub: PartyReceiver | None = None
    for partner in partners:
        url = partner.endpoint(module, "RECEIVER")
        if url is None:
            continue
        found = PartyReceiver(partner.id, url.rstrip("/"), partner.version or DEFAULT_VERSION,
                              party)
        if partner.has_party(country_code, party_id):
            return found
        if hub is None and any(r.role == HUB for r in partner.roles) \
                and partner.grants.may_forward_for(country_code, party_id):
            hub = found
    return hub


class ReceiverIndex:
    """``receiver_for`` answers, kept while the list of partners is the same object (as
    ``PartnerRegistry.registered_now`` returns it until a partner changes anywhere)."""

    def __init__(self, module: str) -> None:
        self._module = module
        self._partners: Sequence[Partner] | None = None
        self._found: dict[tuple[str, str], PartyReceiver | None] = {}

    def find(self, partners: Sequence[Partner], country_code: str,
             party_id: str) -> PartyReceiver | None:
        if partners is not self._partners:
            self._partners, self._found = partners, {}
        key = (country_code.upper(), party_id.upper())
        if key not in self._found:
            self._found[key] = receiver_for(partners, self._module, country_code, party_id)
        return self._found[key]
