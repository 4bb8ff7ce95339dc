"""The pricing engine's money: the output periods priced (FLAT once per phase, step_size once
per phase and group on the last priced period), their CDR dimensions, and the totals."""

from __future__ import annotations

from decimal import Decimal

from ocpi_gateway.money import Price
from ocpi_gateway.tariffs.ledger import Ledger, ceil_to, limit_total, round_money
from ocpi_gateway.tariffs.models import PriceComponent, Tariff, TariffDimensionType
from ocpi_gateway.tariffs.pieces import OVERTIME, RESERVATION, SESSION, Out
from ocpi_gateway.tariffs.priced import (
    CdrDimension,
    CdrDimensionType,
    PricedPeriod,
    PricingResult,
    ReservationOutcome,
    ReservationSpan,
)
from ocpi_gateway.tariffs.restrictions import US_PER_S

_US_PER_HOUR = Decimal(3_600_000_000)
_ZERO = Decimal(0)
_WH_PER_KWH = Decimal(1000)
_ENERGY_G, _TIME_G = "energy", "time"
_D = TariffDimensionType
_CATEGORY = {_D.ENERGY: "energy", _D.TIME: "time", _D.PARKING_TIME: "parking"}


def account(tariff: Tariff, outs: list[Out], reservation: ReservationSpan | None,
            decimals: int | None) -> PricingResult:
    ledger = Ledger(tariff.tax_included)
    # step_size group → (dimension, output period, component) of its last priced period
    last: dict[str, tuple[TariffDimensionType, Out, PriceComponent]] = {}
    totals: dict[tuple[str, TariffDimensionType], Decimal] = {}
    flat_done: set[str] = set()
    for out in outs:
        reserved = out.phase == RESERVATION
        lines = [(out.phase, RESERVATION if reserved else None, dimension, element)
                 for dimension, element in out.chosen]
        lines += [(OVERTIME, OVERTIME, dimension, element)
                  for dimension, element in out.overtime_chosen]
        for phase, group, dimension, element in lines:
            component = element.components[dimension]
            if dimension is _D.FLAT:
                if phase not in flat_done:
                    flat_done.add(phase)
                    out.cost += ledger.add("fixed" if phase == SESSION else "reservation",
                                           component, Decimal(1))
                continue
            if dimension is _D.ENERGY:
                group, volume, per_unit = _ENERGY_G, out.energy * _WH_PER_KWH, _WH_PER_KWH
            else:
                group = group or _TIME_G
                volume, per_unit = Decimal(out.duration_us), _US_PER_HOUR
            category = "reservation" if group in (RESERVATION, OVERTIME) \
                else _CATEGORY[dimension]
            out.cost += ledger.add(category, component, volume, per_unit)
            if volume:
                totals[(group, dimension)] = totals.get((group, dimension), _ZERO) + volume
                last[group] = (dimension, out, component)
    for group, (dimension, out, component) in last.items():
        billed = totals[(group, dimension)]
        if dimension is _D.ENERGY:
            extra, per_unit = ceil_to(billed, component.step_size) - billed, _WH_PER_KWH
        else:
            extra = ceil_to(billed, component.step_size * US_PER_S) - billed
            per_unit = _US_PER_HOUR
        if extra:
            category = ("reservation" if group in (RESERVATION, OVERTIME)
                        else _CATEGORY[dimension])
            out.cost += ledger.add(category, component, extra, per_unit)
    expired = reservation is not None and reservation.outcome is ReservationOutcome.EXPIRED
    return _result(tariff, outs, ledger, decimals, expired)


def _dimensions(out: Out, expired: bool) -> tuple[CdrDimension, ...]:
    hours = Decimal(out.duration_us) / _US_PER_HOUR
    if out.phase == RESERVATION:
        kind = CdrDimensionType.RESERVATION_EXPIRES if expired \
            else CdrDimensionType.RESERVATION_TIME
        return (CdrDimension(kind, hours),)
    dims: list[CdrDimension] = []
    if out.charging or out.energy:
        dims.append(CdrDimension(CdrDimensionType.ENERGY, out.energy))
    dims.append(CdrDimension(CdrDimensionType.TIME if out.charging
                             else CdrDimensionType.PARKING_TIME, hours))
    if out.overtime:
        dims.append(CdrDimension(CdrDimensionType.RESERVATION_OVERTIME, hours))
    if out.current is not None:
        dims += (CdrDimension(CdrDimensionType.MIN_CURRENT, out.current[0]),
                 CdrDimension(CdrDimensionType.MAX_CURRENT, out.current[1]))
    if out.power is not None:
        dims += (CdrDimension(CdrDimensionType.MIN_POWER, out.power[0]),
                 CdrDimension(CdrDimensionType.MAX_POWER, out.power[1]))
    return tuple(dims)


def _result(tariff: Tariff, outs: list[Out], ledger: Ledger, decimals: int | None,
            expired: bool) -> PricingResult:
    session = [o for o in outs if o.phase != RESERVATION]
    all_us = sum(o.duration_us for o in (session or outs))
    parking_us = sum(o.duration_us for o in session if not o.charging)
    total = ledger.price(("fixed", "energy", "time", "parking", "reservation"), decimals) \
        or Price(before_taxes=round_money(_ZERO, decimals), taxes=[])
    total, limited_by = limit_total(total, tariff, decimals)
    periods = tuple(PricedPeriod(o.start, _dimensions(o, expired), tariff.id, o.cost)
                    for o in outs)
    return PricingResult(
        currency=tariff.currency, periods=periods, total_cost=total,
        total_fixed_cost=ledger.price(("fixed",), decimals),
        total_energy=sum((o.energy for o in session), _ZERO),
        total_energy_cost=ledger.price(("energy",), decimals),
        total_time=Decimal(all_us) / _US_PER_HOUR,
        total_time_cost=ledger.price(("time",), decimals),
        total_parking_time=Decimal(parking_us) / _US_PER_HOUR,
        total_parking_cost=ledger.price(("parking",), decimals),
        total_reservation_cost=ledger.price(("reservation",), decimals),
        limited_by=limited_by)
