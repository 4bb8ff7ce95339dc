"""OCPI 2.2.1 CDR parts shared with Sessions (CdrToken, CdrDimension, ChargingPeriod): its
CdrDimensionType has no RESERVATION_EXPIRES (an expired reservation's time is
RESERVATION_TIME) nor RESERVATION_OVERTIME (bookings are 2.3.0), and its TokenType is closed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ocpi_gateway.ocpi import session_parts
from ocpi_gateway.ocpi.v2_2_1.prices import Number
from ocpi_gateway.sessions.models import SessionToken
from ocpi_gateway.tariffs.pricing import CdrDimensionType, PricedPeriod
from ocpi_gateway.tokens.models import TokenType


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


_DIMENSIONS: dict[CdrDimensionType, str | None] = {
    **{d: d.value for d in CdrDimensionType},
    CdrDimensionType.RESERVATION_EXPIRES: CdrDimensionType.RESERVATION_TIME.value,
    CdrDimensionType.RESERVATION_OVERTIME: None,
}
_TOKEN_TYPES = frozenset(t.value for t in TokenType) - {TokenType.EMAID.value}


def dimension(kind: CdrDimensionType) -> str | None:
    return _DIMENSIONS[kind]


def cdr_token(token: SessionToken) -> CdrToken:
    kind = token.type if token.type in _TOKEN_TYPES else TokenType.OTHER.value
    return CdrToken.model_validate(session_parts.cdr_token(token, kind))


def charging_period(period: PricedPeriod) -> ChargingPeriod:
    return ChargingPeriod.model_validate(session_parts.charging_period(period, dimension))
