"""OCPI 2.3.0 CDRs: every dimension the engine reports exists (RESERVATION_EXPIRES,
RESERVATION_OVERTIME), and TokenType is open (a type we do not know is kept as sent)."""

from __future__ import annotations

from ocpi_gateway.ocpi.shared.cdrs import CdrFields, CdrsMapping
from ocpi_gateway.ocpi.v2_3_0.prices import Price, price
from ocpi_gateway.ocpi.v2_3_0.tariffs import MAPPING as TARIFFS
from ocpi_gateway.ocpi.v2_3_0.tariffs import Tariff
from ocpi_gateway.tariffs.pricing import CdrDimensionType


def dimension(kind: CdrDimensionType) -> str | None:
    return kind.value


def token_type(kind: str) -> str:
    return kind


class Cdr(CdrFields):
    booking_id: str | None = None
    tariffs: list[Tariff] | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy_cost: Price | None = None
    total_time_cost: Price | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None


MAPPING = CdrsMapping(Cdr, price, TARIFFS.tariff, dimension, token_type,
                      booking_id=True)
