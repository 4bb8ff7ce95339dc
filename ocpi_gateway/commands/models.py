"""OCPI 2.2.1 Commands objects (mod_commands.asciidoc)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from ocpi_gateway.tokens.models import CiString36, Token
from ocpi_gateway.transport.datetimes import OcpiDateTime

Url = Annotated[AnyHttpUrl, Field(max_length=255)]


class CommandType(StrEnum):
    CANCEL_RESERVATION = "CANCEL_RESERVATION"
    RESERVE_NOW = "RESERVE_NOW"
    START_SESSION = "START_SESSION"
    STOP_SESSION = "STOP_SESSION"
    UNLOCK_CONNECTOR = "UNLOCK_CONNECTOR"


class CommandResponseType(StrEnum):
    NOT_SUPPORTED = "NOT_SUPPORTED"
    REJECTED = "REJECTED"
    ACCEPTED = "ACCEPTED"
    UNKNOWN_SESSION = "UNKNOWN_SESSION"


class CommandResultType(StrEnum):
    ACCEPTED = "ACCEPTED"
    CANCELED_RESERVATION = "CANCELED_RESERVATION"
    EVSE_OCCUPIED = "EVSE_OCCUPIED"
    EVSE_INOPERATIVE = "EVSE_INOPERATIVE"
    FAILED = "FAILED"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    REJECTED = "REJECTED"
    TIMEOUT = "TIMEOUT"
    UNKNOWN_RESERVATION = "UNKNOWN_RESERVATION"


class DisplayText(BaseModel):
    language: Annotated[str, StringConstraints(min_length=2, max_length=2)]
    text: str = Field(max_length=512)


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    response_url: Url


class ReserveNowRequest(CommandBody):
    token: Token
    expiry_date: OcpiDateTime
    reservation_id: CiString36
    location_id: CiString36
    evse_uid: CiString36 | None = None
    authorization_reference: CiString36 | None = None


class CancelReservationRequest(CommandBody):
    reservation_id: CiString36


class StartSessionRequest(CommandBody):
    token: Token
    location_id: CiString36
    evse_uid: CiString36 | None = None
    connector_id: CiString36 | None = None
    authorization_reference: CiString36 | None = None


class StopSessionRequest(CommandBody):
    session_id: CiString36


class UnlockConnectorRequest(CommandBody):
    location_id: CiString36
    evse_uid: CiString36
    connector_id: CiString36


COMMAND_BODIES: dict[CommandType, type[CommandBody]] = {
    CommandType.RESERVE_NOW: ReserveNowRequest,
    CommandType.CANCEL_RESERVATION: CancelReservationRequest,
    CommandType.START_SESSION: StartSessionRequest,
    CommandType.STOP_SESSION: StopSessionRequest,
    CommandType.UNLOCK_CONNECTOR: UnlockConnectorRequest,
}


class CommandResponse(BaseModel):
    result: CommandResponseType
    timeout: int
    message: list[DisplayText] = []


class CommandResult(BaseModel):
    result: CommandResultType
    message: list[DisplayText] = []
