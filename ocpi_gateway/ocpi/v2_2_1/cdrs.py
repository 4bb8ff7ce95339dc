"""OCPI 2.2.1 CDRs: its CdrDimensionType has no RESERVATION_EXPIRES (an expired reservation's
time is RESERVATION_TIME) nor RESERVATION_OVERTIME (bookings are 2.3.0); its TokenType is
closed (EMAID, or a type it does not list, is OTHER)."""

from __future__ import annotations

from ocpi_gateway.ocpi.shared.cdrs import CdrFields, CdrsMapping
from ocpi_gateway.ocpi.v2_2_1.prices import Price, price
from ocpi_gateway.ocpi.v2_2_1.tariffs import MAPPING as TARIFFS
from ocpi_gateway.ocpi.v2_2_1.tariffs import Tariff
from ocpi_gateway.tariffs.pricing import CdrDimensionType
from ocpi_gateway.tokens.models import TokenType

_DIMENSIONS: dict[CdrDimensionType, str | None] = {
    **{d: d.value for d in CdrDimensionType},
    CdrDimensionType.RESERVATION_EXPIRES: CdrDimensionType.RESERVATION_TIME.value,
    CdrDimensionType.RESERVATION_OVERTIME: None,
}
_TOKEN_TYPES = frozenset(t.value for t in TokenType) - {TokenType.EMAID.value}


def dimension(kind: CdrDimensionType) -> str | None:
    return _DIMENSIONS[kind]


def token_type(kind: str) -> str:
    return kind if kind in _TOKEN_TYPES else TokenType.OTHER.value


class Cdr(CdrFields):
    tariffs: list[Tariff] | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy_cost: Price | None = None
    total_time_cost: Price | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None


MAPPING = CdrsMapping(Cdr, price, TARIFFS.tariff, dimension, token_type,
                      booking_id=False)
