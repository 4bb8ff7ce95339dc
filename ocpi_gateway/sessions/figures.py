"""What a Session shows beyond its record, computed once per change and then put in each
version's form: kWh so far, the closed charging periods, and total_cost where a tariff
applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ocpi_gateway.money import Price
from ocpi_gateway.sessions import costing
from ocpi_gateway.sessions.models import Session
from ocpi_gateway.tariffs.pricing import PricedPeriod


@dataclass(frozen=True, slots=True)
class SessionFigures:
    kwh: Decimal
    periods: tuple[PricedPeriod, ...]
    total_cost: Price | None


def figures(session: Session, now: datetime) -> SessionFigures:
    until = session.end_date_time or now
    result = costing.price(session, until=until)
    return SessionFigures(kwh=result.total_energy,
                          periods=costing.closed_periods(session, result),
                          total_cost=result.total_cost if session.tariff is not None else None)
