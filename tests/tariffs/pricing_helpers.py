"""Building sessions for the pricing tests: the spec's example tariffs (verbatim copies of
both texts' ``examples/``, in ``spec_examples/``) and meter periods by the minute."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from ocpi_gateway.money import Price
from ocpi_gateway.tariffs.models import Tariff
from ocpi_gateway.tariffs.pricing import MeterPeriod

EXAMPLES = Path(__file__).parent / "spec_examples"
MONDAY = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
SATURDAY = datetime(2024, 3, 9, tzinfo=UTC)


def example(name: str, version: str = "2.2.1") -> Tariff:
    return Tariff.model_validate(json.loads((EXAMPLES / version / name).read_text()))


def tariff(elements: list[dict[str, object]], **fields: object) -> Tariff:
    return Tariff.model_validate({"id": "T1", "currency": "EUR", "elements": elements,
                                  **fields})


def at(day: datetime, hhmm: str) -> datetime:
    return day + timedelta(hours=int(hhmm[:2]), minutes=int(hhmm[3:]))


def charging(start: datetime, minutes: float, kwh: float | str = 0, *,
             current: float | None = None, power: float | None = None) -> MeterPeriod:
    return MeterPeriod(start, start + timedelta(minutes=minutes), Decimal(str(kwh)), True,
                       None if current is None else Decimal(str(current)),
                       None if power is None else Decimal(str(power)))


def parking(start: datetime, minutes: float) -> MeterPeriod:
    return MeterPeriod(start, start + timedelta(minutes=minutes), Decimal(0), False)


def then_charging(previous: MeterPeriod, minutes: float, kwh: float | str = 0,
                  **kw: float) -> MeterPeriod:
    return charging(previous.end, minutes, kwh, **kw)


def then_parking(previous: MeterPeriod, minutes: float) -> MeterPeriod:
    return parking(previous.end, minutes)


def excl_incl(price: Price | None) -> tuple[Decimal, Decimal | None]:
    """(before taxes, after taxes) as 2.2.1 says excl_vat / incl_vat."""
    assert price is not None
    return price.before_taxes, price.after_taxes


def d(value: str) -> Decimal:
    return Decimal(value)
