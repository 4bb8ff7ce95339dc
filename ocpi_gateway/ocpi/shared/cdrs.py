"""What CDRs and Sessions share across versions: CdrToken, CdrDimension and ChargingPeriod as
every version has them, and the steps of building them. A version says which dimension
types and token types it can name."""

from __future__ import annotations

from collections.abc import Callable

from ocpi_gateway.ocpi.shared.objects import Number, OcpiObject
from ocpi_gateway.sessions.models import SessionToken
from ocpi_gateway.tariffs.pricing import CdrDimensionType, PricedPeriod
from ocpi_gateway.transport.envelope import ocpi_timestamp

DimensionMap = Callable[[CdrDimensionType], str | None]
"""A dimension type in a version's CdrDimensionType (None: the version has none for it)."""

TokenTypeMap = Callable[[str], str]
"""A token's type as a version's TokenType names it."""


class CdrToken(OcpiObject):
    country_code: str
    party_id: str
    uid: str
    type: str
    contract_id: str


class CdrDimension(OcpiObject):
    type: str
    volume: Number


class ChargingPeriod(OcpiObject):
    start_date_time: str
    dimensions: list[CdrDimension]
    tariff_id: str | None = None


def cdr_token(token: SessionToken, token_type: TokenTypeMap) -> CdrToken:
    return CdrToken(country_code=token.country_code, party_id=token.party_id, uid=token.uid,
                    type=token_type(token.type), contract_id=token.contract_id)


def charging_period(period: PricedPeriod, dimension: DimensionMap) -> ChargingPeriod:
    dims = []
    for d in period.dimensions:
        kind = dimension(d.type)
        if kind is not None:
            dims.append(CdrDimension(type=kind, volume=d.volume))
    if period.tariff_id:
        return ChargingPeriod(start_date_time=ocpi_timestamp(period.start), dimensions=dims,
                              tariff_id=period.tariff_id)
    return ChargingPeriod(start_date_time=ocpi_timestamp(period.start), dimensions=dims)
