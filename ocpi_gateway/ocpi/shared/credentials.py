"""What Credentials share across versions: the token's form, a role's fields (each version
adds its Role), the internal PartnerRole of a received one and the roles we send."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, TypeVar

from pydantic import Field

from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.ocpi.shared.objects import OcpiObject
from ocpi_gateway.partners.models import BusinessDetails, PartnerRole

TOKEN_PATTERN = r"^[\x21-\x7e]+$"  # printable non-whitespace ASCII, as the spec requires


class CredentialsRoleFields(OcpiObject):
    business_details: BusinessDetails
    party_id: str = Field(min_length=3, max_length=3)
    country_code: str = Field(min_length=2, max_length=2)


class CredentialsFields(OcpiObject):
    token: str = Field(max_length=64, pattern=TOKEN_PATTERN)
    url: str = Field(max_length=255)


class _Role(Protocol):
    @property
    def role(self) -> StrEnum: ...
    @property
    def business_details(self) -> BusinessDetails: ...
    @property
    def party_id(self) -> str: ...
    @property
    def country_code(self) -> str: ...


R = TypeVar("R", bound=CredentialsRoleFields)


def partner_role(role: _Role) -> PartnerRole:
    return PartnerRole(role=role.role.value, country_code=role.country_code.upper(),
                       party_id=role.party_id.upper(), business_details=role.business_details)


def our_roles(settings: GatewaySettings, role_type: type[R]) -> list[R]:
    """Every CPO role we serve (a hub sees them all), as the version's CredentialsRole."""
    return [role_type.model_validate(
        {"role": "CPO", "party_id": r.party_id, "country_code": r.country_code,
         "business_details": r.business_details.model_dump(exclude_none=True)})
        for r in settings.cpo_roles]
