"""OCPI 2.3.0 CDR parts shared with Sessions (CdrToken, CdrDimension, ChargingPeriod): every
dimension the engine reports exists (RESERVATION_EXPIRES, RESERVATION_OVERTIME), and
TokenType is open (a type we do not know is kept as sent)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ocpi_gateway.ocpi import session_parts
from ocpi_gateway.ocpi.v2_3_0.prices import Number
from ocpi_gateway.sessions.models import SessionToken
from ocpi_gateway.tariffs.pricing import CdrDimensionType, PricedPeriod


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CdrToken(_Object):
    country_code: str
    party_id: str
    uid: str
    type: str
    contract_id: str


class CdrDimension(_Object):
    type: str
    volume: Number


class ChargingPeriod(_Object):
    start_date_time: str
    dimensions: list[CdrDimension]
    tariff_id: str | None = None


def dimension(kind: CdrDimensionType) -> str | None:
    return kind.value


def cdr_token(token: SessionToken) -> CdrToken:
    return CdrToken.model_validate(session_parts.cdr_token(token, token.type))


def charging_period(period: PricedPeriod) -> ChargingPeriod:
    return ChargingPeriod.model_validate(session_parts.charging_period(period, dimension))
