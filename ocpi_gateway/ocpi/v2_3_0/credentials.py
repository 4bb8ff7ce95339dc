"""OCPI 2.3.0 Credentials: HUB is no longer a role. A hub platform names its own party in
``hub_party_id`` and lists the parties reachable through it in ``roles`` (credentials, note
on hubs). Internally a hub stays a platform with a HUB role (that party) and the parties it
lists are those it reaches (``PartnerCredentials.reachable``), so what the operator granted
(``--hub``, ``--forwards-for``) and how routing headers are checked is the same in both
versions."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.ocpi.shared.credentials import (
    CredentialsFields,
    CredentialsRoleFields,
    our_roles,
    partner_role,
)
from ocpi_gateway.partners.models import PartnerCredentials, PartnerRole

HubPartyId = Annotated[str, StringConstraints(min_length=5, max_length=5,
                                              pattern=r"^[A-Za-z]{2}[A-Za-z0-9]{3}$")]


class Role(StrEnum):
    CPO = "CPO"
    EMSP = "EMSP"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


class CredentialsRole(CredentialsRoleFields):
    role: Role


class Credentials(CredentialsFields):
    hub_party_id: HubPartyId | None = None
    roles: list[CredentialsRole] = Field(min_length=1)


class Mapping230:
    def parse(self, raw: Any) -> PartnerCredentials:
        body = Credentials.model_validate(raw)
        roles = [partner_role(r) for r in body.roles]
        if body.hub_party_id is None:
            return PartnerCredentials(token=body.token, url=body.url, roles=roles)
        hub = body.hub_party_id.upper()
        # The listed roles are the parties the hub reaches, not roles of its own.
        return PartnerCredentials(
            token=body.token, url=body.url, hub_party_id=hub, reachable=roles,
            roles=[PartnerRole(role="HUB", country_code=hub[:2], party_id=hub[2:])])

    def ours(self, settings: GatewaySettings, token: str, versions_url: str) -> Credentials:
        return Credentials(token=token, url=versions_url,
                           roles=our_roles(settings, CredentialsRole))


MAPPING = Mapping230()
