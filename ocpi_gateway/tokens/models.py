"""The internal Token (mod_tokens.asciidoc): what every supported version can say. ``type`` is
open (2.3.0 TokenType is an OpenEnum: a type we do not know is kept as sent); each version's
package (``ocpi_gateway/ocpi/v*/tokens.py``) checks what its version allows."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ocpi_gateway.transport.datetimes import OcpiDateTime

CiString2 = Annotated[str, StringConstraints(min_length=2, max_length=2)]
CiString3 = Annotated[str, StringConstraints(min_length=3, max_length=3)]
CiString36 = Annotated[str, StringConstraints(min_length=1, max_length=36)]


class LocationReferences(BaseModel):
    """Where a real-time authorization is asked: the charger's location and its EVSEs there
    (mod_tokens LocationReferences)."""

    model_config = ConfigDict(frozen=True)

    location_id: CiString36
    evse_uids: tuple[CiString36, ...] = ()


class TokenType(StrEnum):
    AD_HOC_USER = "AD_HOC_USER"
    APP_USER = "APP_USER"
    EMAID = "EMAID"  # 2.3.0: an ISO 15118 contract id presented by the vehicle
    OTHER = "OTHER"
    RFID = "RFID"


OpenTokenType = Annotated[TokenType | str, Field(union_mode="left_to_right")]
"""A known TokenType, or (2.3.0) any other value, kept as it is."""


class WhitelistType(StrEnum):
    ALWAYS = "ALWAYS"
    ALLOWED = "ALLOWED"
    ALLOWED_OFFLINE = "ALLOWED_OFFLINE"
    NEVER = "NEVER"


class EnergyContract(BaseModel):
    supplier_name: str = Field(max_length=64)
    contract_id: str | None = Field(default=None, max_length=64)


class Token(BaseModel):
    model_config = ConfigDict(extra="ignore")

    country_code: CiString2
    party_id: CiString3
    uid: CiString36
    type: OpenTokenType
    contract_id: CiString36
    visual_number: str | None = Field(default=None, max_length=64)
    issuer: str = Field(max_length=64)
    group_id: CiString36 | None = None
    valid: bool
    whitelist: WhitelistType
    language: str | None = Field(default=None, max_length=2)
    default_profile_type: str | None = None
    energy_contract: EnergyContract | None = None
    last_updated: OcpiDateTime
