"""OCPI 2.3.0 Credentials: HUB is no longer a role. A hub platform names its own party in
``hub_party_id`` and lists the parties reachable through it in ``roles`` (credentials, note
on hubs). Internally a hub stays a platform with a HUB role (that party) and the parties it
lists are those it reaches (``PartnerCredentials.reachable``), so what the operator granted
(``--hub``, ``--forwards-for``) and how routing headers are checked is the same in both
versions."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.ocpi.v2_2_1.credentials import TOKEN_PATTERN
from ocpi_gateway.partners.models import BusinessDetails, PartnerCredentials, PartnerRole

HubPartyId = Annotated[str, StringConstraints(min_length=5, max_length=5,
                                              pattern=r"^[A-Za-z]{2}[A-Za-z0-9]{3}$")]


class Role(StrEnum):
    CPO = "CPO"
    EMSP = "EMSP"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore")  # unknown fields SHALL NOT cause rejection


class CredentialsRole(_Object):
    role: Role
    business_details: BusinessDetails
    party_id: str = Field(min_length=3, max_length=3)
    country_code: str = Field(min_length=2, max_length=2)


class Credentials(_Object):
    token: str = Field(max_length=64, pattern=TOKEN_PATTERN)
    url: str = Field(max_length=255)
    hub_party_id: HubPartyId | None = None
    roles: list[CredentialsRole] = Field(min_length=1)


class Mapping230:
    def parse(self, raw: Any) -> PartnerCredentials:
        body = Credentials.model_validate(raw)
        roles = [PartnerRole(role=r.role.value, country_code=r.country_code.upper(),
                             party_id=r.party_id.upper(),
                             business_details=r.business_details)
                 for r in body.roles]
        if body.hub_party_id is None:
            return PartnerCredentials(token=body.token, url=body.url, roles=roles)
        hub = body.hub_party_id.upper()
        # The listed roles are the parties the hub reaches, not roles of its own.
        return PartnerCredentials(
            token=body.token, url=body.url, hub_party_id=hub, reachable=roles,
            roles=[PartnerRole(role="HUB", country_code=hub[:2], party_id=hub[2:])])

    def ours(self, settings: GatewaySettings, token: str, versions_url: str) -> Credentials:
        roles = [CredentialsRole.model_validate(
            {"role": "CPO", "party_id": r.party_id, "country_code": r.country_code,
             "business_details": r.business_details.model_dump(exclude_none=True)})
            for r in settings.cpo_roles]
        return Credentials(token=token, url=versions_url, roles=roles)


MAPPING = Mapping230()
