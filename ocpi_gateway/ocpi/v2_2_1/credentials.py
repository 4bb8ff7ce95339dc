"""OCPI 2.2.1 Credentials: a hub is a platform with the role HUB."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.ocpi.shared.credentials import (
    CredentialsFields,
    CredentialsRoleFields,
    our_roles,
    partner_role,
)
from ocpi_gateway.partners.models import PartnerCredentials


class Role(StrEnum):
    CPO = "CPO"
    EMSP = "EMSP"
    HUB = "HUB"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


class CredentialsRole(CredentialsRoleFields):
    role: Role


class Credentials(CredentialsFields):
    roles: list[CredentialsRole] = Field(min_length=1)


class Mapping221:
    def parse(self, raw: Any) -> PartnerCredentials:
        """A partner's Credentials; pydantic's ValidationError when ``raw`` is none."""
        body = Credentials.model_validate(raw)
        return PartnerCredentials(token=body.token, url=body.url,
                                  roles=[partner_role(r) for r in body.roles])

    def ours(self, settings: GatewaySettings, token: str, versions_url: str) -> Credentials:
        return Credentials(token=token, url=versions_url,
                           roles=our_roles(settings, CredentialsRole))


MAPPING = Mapping221()
