"""The internal ClientInfo: a party a hub reports, with its connection status."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ocpi_gateway.transport.datetimes import OcpiDateTime


class ConnectionStatus(StrEnum):
    CONNECTED = "CONNECTED"
    OFFLINE = "OFFLINE"
    PLANNED = "PLANNED"
    SUSPENDED = "SUSPENDED"


class ClientInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    party_id: str = Field(min_length=3, max_length=3)
    country_code: str = Field(min_length=2, max_length=2)
    role: str
    status: ConnectionStatus
    last_updated: OcpiDateTime

    @property
    def key(self) -> tuple[str, str]:
        return (self.country_code.upper(), self.party_id.upper())
