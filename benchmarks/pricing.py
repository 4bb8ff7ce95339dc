"""Pricing a CDR: a 2-hour session of 120 one-minute meter periods (varying power and current,
the last 20 minutes parking) under a 5-element tariff (start fee, time-of-day energy prices, a
power band, a duration band, parking), after a 10-minute reservation. Prints p50 / p99 / max of
``price_session`` over ``--rounds`` runs (goal: p99 <= 1 ms), in wall-clock time and in the
thread's CPU time (on a shared machine the wall-clock tail is other processes' time slices),
with, interleaved, a call that only sums the inputs' energy as a same-run reference for the
machine's speed.

    taskset -c 1 .venv/bin/python benchmarks/pricing.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ocpi_gateway.tariffs.models import Tariff
from ocpi_gateway.tariffs.pricing import (
    MeterPeriod,
    ReservationOutcome,
    ReservationSpan,
    price_session,
)

TARIFF = Tariff.model_validate({
    "id": "BENCH", "currency": "EUR", "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.5, "vat": 21, "step_size": 1},
                              {"type": "TIME", "price": 2.0, "vat": 21, "step_size": 60}],
         "restrictions": {"reservation": "RESERVATION"}},
        {"price_components": [{"type": "ENERGY", "price": 0.45, "vat": 21, "step_size": 1}],
         "restrictions": {"min_power": 22, "start_time": "08:00", "end_time": "20:00"}},
        {"price_components": [{"type": "ENERGY", "price": 0.35, "vat": 21, "step_size": 1},
                              {"type": "TIME", "price": 1.0, "vat": 21, "step_size": 300}],
         "restrictions": {"start_time": "08:00", "end_time": "20:00",
                          "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY",
                                          "FRIDAY"]}},
        {"price_components": [{"type": "PARKING_TIME", "price": 6.0, "vat": 21,
                               "step_size": 300}],
         "restrictions": {"min_duration": 5400}},
        {"price_components": [{"type": "FLAT", "price": 1.0, "vat": 21, "step_size": 1},
                              {"type": "ENERGY", "price": 0.30, "vat": 21, "step_size": 1},
                              {"type": "PARKING_TIME", "price": 3.0, "vat": 21,
                               "step_size": 300}]},
    ]})


def session() -> tuple[list[MeterPeriod], ReservationSpan]:
    rng = random.Random(7)
    start = datetime(2024, 3, 4, 18, 50, tzinfo=UTC)  # crosses 20:00 local
    periods = []
    for minute in range(120):
        begin = start + timedelta(minutes=minute)
        charging = minute < 100
        power = Decimal(rng.choice((7, 11, 22, 50))) if charging else Decimal(0)
        periods.append(MeterPeriod(begin, begin + timedelta(minutes=1),
                                   power / 60 if charging else Decimal(0), charging,
                                   power * 4, power))
    return periods, ReservationSpan(start - timedelta(minutes=10), start,
                                    ReservationOutcome.USED)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    periods, reservation = session()
    for _ in range(50):  # warm up (zoneinfo cache, pydantic)
        price_session(TARIFF, periods, time_zone="Europe/Amsterdam", reservation=reservation)
    samples, cpu, reference = [], [], []
    for _ in range(args.rounds):
        c0, t0 = time.thread_time(), time.perf_counter()
        price_session(TARIFF, periods, time_zone="Europe/Amsterdam", reservation=reservation)
        t1, c1 = time.perf_counter(), time.thread_time()
        sum((p.energy_kwh for p in periods), Decimal(0))
        t2 = time.perf_counter()
        samples.append(t1 - t0)
        cpu.append(c1 - c0)
        reference.append(t2 - t1)
    result = price_session(TARIFF, periods, time_zone="Europe/Amsterdam",
                           reservation=reservation)
    print(f"price_session: 120 meter periods, 5-element tariff, {args.rounds} rounds")
    for name, values in (("wall", samples), ("cpu ", cpu)):
        q = statistics.quantiles(values, n=100)
        print(f"  {name} p50 {q[49] * 1e3:.3f} ms  p99 {q[98] * 1e3:.3f} ms  "
              f"max {max(values) * 1e3:.3f} ms  min {min(values) * 1e3:.3f} ms")
    print(f"  reference (sum of 120 Decimals): median {statistics.median(reference) * 1e6:.1f} µs")
    print(f"  CDR: {len(result.periods)} charging periods, total_cost "
          f"{result.total_cost.before_taxes} excl. / {result.total_cost.after_taxes} incl.")


if __name__ == "__main__":
    main()
