"""OCPI 2.3.0 CDRs: every dimension the engine reports exists (RESERVATION_EXPIRES,
RESERVATION_OVERTIME), and TokenType is open (a type we do not know is kept as sent)."""

from __future__ import annotations

from ocpi_gateway.tariffs.pricing import CdrDimensionType


def dimension(kind: CdrDimensionType) -> str | None:
    return kind.value


def token_type(kind: str) -> str:
    return kind
