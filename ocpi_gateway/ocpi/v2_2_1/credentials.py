"""OCPI 2.2.1 Credentials: a hub is a platform with the role HUB."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.partners.models import BusinessDetails, PartnerCredentials, PartnerRole

TOKEN_PATTERN = r"^[\x21-\x7e]+$"  # printable non-whitespace ASCII, as the spec requires


class Role(StrEnum):
    CPO = "CPO"
    EMSP = "EMSP"
    HUB = "HUB"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


class CredentialsRole(BaseModel):
    role: Role
    business_details: BusinessDetails
    party_id: str = Field(min_length=3, max_length=3)
    country_code: str = Field(min_length=2, max_length=2)


class Credentials(BaseModel):
    token: str = Field(max_length=64, pattern=TOKEN_PATTERN)
    url: str = Field(max_length=255)
    roles: list[CredentialsRole] = Field(min_length=1)


def partner_role(role: CredentialsRole) -> PartnerRole:
    return PartnerRole(role=role.role.value, country_code=role.country_code.upper(),
                       party_id=role.party_id.upper(),
                       business_details=role.business_details)


def our_roles(settings: GatewaySettings) -> list[CredentialsRole]:
    """Every CPO role we serve (a hub sees them all)."""
    return [CredentialsRole.model_validate(
        {"role": "CPO", "party_id": r.party_id, "country_code": r.country_code,
         "business_details": r.business_details.model_dump(exclude_none=True)})
        for r in settings.cpo_roles]


class Mapping221:
    def parse(self, raw: Any) -> PartnerCredentials:
        """A partner's Credentials; pydantic's ValidationError when ``raw`` is none."""
        body = Credentials.model_validate(raw)
        return PartnerCredentials(token=body.token, url=body.url,
                                  roles=[partner_role(r) for r in body.roles])

    def ours(self, settings: GatewaySettings, token: str, versions_url: str) -> Credentials:
        return Credentials(token=token, url=versions_url, roles=our_roles(settings))


MAPPING = Mapping221()
