"""Invariants of the pricing engine over random tariffs and sessions (a seeded generator: the
same cases every run, a failure names its seed).

- the total is the sum of the periods' costs, and of the category totals;
- nothing is negative; the periods follow each other and cover the session;
- how the meter cut the session into periods does not change the price;
- step_size: the total of the dimension is billed in whole steps of the last component, the
  extra in the last period (two elements, a tariff change in between).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

import pytest

from ocpi_gateway.tariffs.models import Tariff
from ocpi_gateway.tariffs.pricing import (
    CdrDimensionType,
    MeterPeriod,
    PricingResult,
    ReservationOutcome,
    ReservationSpan,
    price_session,
)
from tests.tariffs.pricing_helpers import tariff

SEEDS = range(150)
TINY = Decimal("1e-20")
START = datetime(2024, 3, 8, 15, 0, tzinfo=UTC)  # a Friday afternoon: weekend is near


def random_restrictions(rng: random.Random) -> dict[str, object] | None:
    if rng.random() < 0.35:
        return None
    r: dict[str, object] = {}
    if rng.random() < 0.5:
        r["start_time"] = f"{rng.randrange(24):02d}:{rng.choice((0, 30)):02d}"
        r["end_time"] = f"{rng.randrange(24):02d}:{rng.choice((0, 15)):02d}"
    if rng.random() < 0.3:
        r["day_of_week"] = rng.sample(["FRIDAY", "SATURDAY", "SUNDAY", "MONDAY"], 2)
    if rng.random() < 0.3:
        r["max_kwh" if rng.random() < 0.5 else "min_kwh"] = rng.choice((2, 5, 10.5))
    if rng.random() < 0.3:
        r["max_duration" if rng.random() < 0.5 else "min_duration"] = rng.choice((600, 3600))
    if rng.random() < 0.3:
        r["min_power" if rng.random() < 0.5 else "max_power"] = rng.choice((7, 11, 22))
    return r


def random_tariff(rng: random.Random, *, limits: bool = False) -> Tariff:
    elements: list[dict[str, object]] = []
    for _ in range(rng.randint(1, 5)):
        kinds = rng.sample(["ENERGY", "FLAT", "TIME", "PARKING_TIME"], rng.randint(1, 3))
        components = [{"type": kind, "price": rng.choice((0, 0.25, 1.5, 2.4, 6)),
                       "vat": rng.choice((None, 0, 10, 21)),
                       "step_size": rng.choice((0, 1, 100, 500)) if kind == "ENERGY"
                       else rng.choice((0, 1, 60, 300, 900))} for kind in kinds]
        element: dict[str, object] = {"price_components": components}
        restrictions = random_restrictions(rng)
        if restrictions:
            element["restrictions"] = restrictions
        elements.append(element)
    if rng.random() < 0.3:
        elements.insert(0, {"price_components": [
            {"type": "TIME", "price": rng.choice((1, 3)), "vat": 20, "step_size": 300},
            {"type": "FLAT", "price": 1, "vat": 20, "step_size": 1}],
            "restrictions": {"reservation": rng.choice(("RESERVATION", "RESERVATION_EXPIRES"))}})
    extra: dict[str, object] = {}
    if limits:
        extra = {"min_price": {"before_taxes": 1}, "max_price": {"before_taxes": 20}}
    return tariff(elements, **extra)


def random_session(rng: random.Random) -> list[MeterPeriod]:
    periods, at = [], START + timedelta(minutes=rng.randrange(0, 600))
    charging = True
    for _ in range(rng.randint(1, 40)):
        length = timedelta(seconds=rng.randint(30, 1800))
        if rng.random() < 0.15:
            charging = not charging
        power = Decimal(rng.choice((3, 7, 11, 22, 50))) if charging else None
        energy = (power * Decimal(length.total_seconds()) / 3600).quantize(Decimal("0.001")) \
            if power is not None else Decimal(0)
        periods.append(MeterPeriod(at, at + length, energy, charging,
                                   None if power is None else power * 4, power))
        at += length
    return periods


def random_reservation(rng: random.Random, periods: list[MeterPeriod]
                       ) -> ReservationSpan | None:
    if rng.random() < 0.5:
        return None
    minutes = rng.randint(1, 90)
    return ReservationSpan(periods[0].start - timedelta(minutes=minutes), periods[0].start,
                           rng.choice((ReservationOutcome.USED, ReservationOutcome.CANCELLED)))


def price(t: Tariff, periods: list[MeterPeriod], reservation: ReservationSpan | None,
          decimals: int | None = None) -> PricingResult:
    return price_session(t, periods, time_zone="Europe/Paris", reservation=reservation,
                         decimals=decimals)


@pytest.mark.parametrize("seed", SEEDS)
def test_totals_add_up_and_nothing_is_negative(seed: int) -> None:
    rng = random.Random(seed)
    t, periods = random_tariff(rng), random_session(rng)
    reservation = random_reservation(rng, periods)
    result = price(t, periods, reservation)
    costs = [p.cost for p in result.periods]
    assert all(c >= 0 for c in costs), seed
    # exact amounts (28 significant digits): equal up to the last digit's rounding
    assert abs(result.total_cost.before_taxes - sum(costs, Decimal(0))) < TINY, seed
    parts = [getattr(result, f"total_{name}_cost") for name in
             ("fixed", "energy", "time", "parking", "reservation")]
    assert abs(sum((p.before_taxes for p in parts if p is not None), Decimal(0))
               - result.total_cost.before_taxes) < TINY, seed
    assert all(p.before_taxes >= 0 and (p.after_taxes or 0) >= 0 for p in parts if p), seed
    # periods in order, covering the session; measured volumes add up
    starts = [p.start for p in result.periods]
    assert starts == sorted(starts) and len(set(starts)) == len(starts), seed
    session_periods = [p for p in result.periods
                       if CdrDimensionType.RESERVATION_TIME not in {x.type for x in p.dimensions}]
    assert session_periods[0].start == periods[0].start, seed
    hours = sum((x.volume for p in session_periods for x in p.dimensions
                 if x.type in (CdrDimensionType.TIME, CdrDimensionType.PARKING_TIME)),
                Decimal(0))
    assert abs(hours - result.total_time) < TINY, seed
    energy = sum((x.volume for p in session_periods for x in p.dimensions
                  if x.type is CdrDimensionType.ENERGY), Decimal(0))
    assert energy == result.total_energy == sum((p.energy_kwh for p in periods), Decimal(0))


@pytest.mark.parametrize("seed", SEEDS)
def test_how_the_meter_cut_the_session_does_not_change_the_price(seed: int) -> None:
    rng = random.Random(seed)
    t, periods = random_tariff(rng), random_session(rng)
    reservation = random_reservation(rng, periods)
    halves: list[MeterPeriod] = []
    for p in periods:
        middle = p.start + (p.end - p.start) / 2
        halves += [MeterPeriod(p.start, middle, p.energy_kwh / 2, p.charging, p.current_a,
                               p.power_kw),
                   MeterPeriod(middle, p.end, p.energy_kwh / 2, p.charging, p.current_a,
                               p.power_kw)]
    whole, cut = price(t, periods, reservation, 6), price(t, halves, reservation, 6)
    assert cut.total_cost == whole.total_cost, seed
    assert [p.start for p in cut.periods] == [p.start for p in whole.periods], seed


@pytest.mark.parametrize("seed", SEEDS)
def test_price_limits_hold(seed: int) -> None:
    rng = random.Random(seed)
    t, periods = random_tariff(rng, limits=True), random_session(rng)
    result = price(t, periods, random_reservation(rng, periods), 2)
    assert 1 <= result.total_cost.before_taxes <= 20, seed


def _ceil(value: Decimal, step: int) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step if step else value


@pytest.mark.parametrize("seed", SEEDS)
def test_step_size_of_the_last_component_on_the_total(seed: int) -> None:
    rng = random.Random(seed)
    steps = (1, 60, 300, 600, 900, 1800)
    before_step, after_step = rng.choice(steps), rng.choice(steps)
    p1, p2 = Decimal(rng.choice(("1.20", "2", "3.60"))), Decimal(rng.choice(("2.40", "6")))
    t = tariff([
        {"price_components": [{"type": "TIME", "price": str(p1), "step_size": before_step}],
         "restrictions": {"start_time": "00:00", "end_time": "17:00"}},
        {"price_components": [{"type": "TIME", "price": str(p2), "step_size": after_step}]}])
    t1, t2 = rng.randint(1, 7200), rng.randint(0, 7200)  # seconds before and after 17:00
    start = datetime(2024, 3, 4, 17, tzinfo=UTC) - timedelta(seconds=t1)
    session = [MeterPeriod(start, start + timedelta(seconds=t1 + t2), Decimal(5))]
    result = price_session(t, session, time_zone="UTC", decimals=None)
    if t2:
        billed_after = _ceil(Decimal(t1 + t2), after_step) - t1
        expected = (p1 * t1 + p2 * billed_after) / 3600
    else:
        expected = p1 * _ceil(Decimal(t1), before_step) / 3600
    assert abs(result.total_cost.before_taxes - expected) < TINY, seed
    # energy: one step for the whole session
    wh = rng.randint(1, 50_000)
    step = rng.choice((1, 25, 100, 500, 1000))
    energy = tariff([{"price_components": [{"type": "ENERGY", "price": "0.25",
                                            "step_size": step}]}])
    half = start + timedelta(minutes=30)
    periods = [MeterPeriod(start, half, Decimal(wh) / 2000),
               MeterPeriod(half, half + timedelta(minutes=30), Decimal(wh) / 2000)]
    priced = price_session(energy, periods, time_zone="UTC", decimals=None)
    assert priced.total_cost.before_taxes == _ceil(Decimal(wh), step) * Decimal("0.25") / 1000
