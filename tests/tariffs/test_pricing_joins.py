"""The engine's shortcuts change no price: a meter period that nothing inside divides and
that starts where every restriction answers as for the last piece priced joins that piece's
output period without being cut and matched again; a tariff is prepared once and kept while
an equal one comes back (a reload that changed it under the same id is prepared anew)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ocpi_gateway.tariffs import pieces, restrictions
from ocpi_gateway.tariffs.pricing import MeterPeriod, PricingResult, price_session
from ocpi_gateway.tariffs.restrictions import compiled
from tests.tariffs.pricing_helpers import MONDAY, at, charging, d, parking, tariff
from tests.tariffs.test_pricing_properties import random_reservation, random_tariff

ENERGY_BANDS = tariff([
    {"price_components": [{"type": "ENERGY", "price": 0.20, "step_size": 1}],
     "restrictions": {"max_kwh": 10}},
    {"price_components": [{"type": "ENERGY", "price": 0.40, "step_size": 1}]}])

DAY_NIGHT = tariff([
    {"price_components": [{"type": "TIME", "price": 2.00, "step_size": 1}],
     "restrictions": {"start_time": "08:00", "end_time": "20:00"}},
    {"price_components": [{"type": "TIME", "price": 1.00, "step_size": 1}]}])

FIRST_HOUR = tariff([
    {"price_components": [{"type": "TIME", "price": 3.00, "step_size": 1}],
     "restrictions": {"max_duration": 3600}},
    {"price_components": [{"type": "TIME", "price": 1.00, "step_size": 1}]}])


def in_a_row(start: datetime, minutes: int, count: int, kwh: str = "0") -> list[MeterPeriod]:
    periods = [charging(start, minutes, kwh)]
    for _ in range(count - 1):
        periods.append(charging(periods[-1].end, minutes, kwh))
    return periods


def cost(result: PricingResult) -> Decimal:
    return result.total_cost.before_taxes


def test_a_period_starting_on_a_kwh_threshold_is_priced_past_it() -> None:
    # 3 x 5 kWh: the third starts at 10 kWh exactly, past max_kwh 10: 10 x 0.20 + 5 x 0.40
    result = price_session(ENERGY_BANDS, in_a_row(at(MONDAY, "10:00"), 20, 3, "5"),
                           time_zone="UTC", decimals=None)
    assert cost(result) == d("4.00")
    assert [p.start for p in result.periods] == [at(MONDAY, "10:00"), at(MONDAY, "10:40")]


def test_a_period_starting_on_a_time_boundary_is_priced_after_it() -> None:
    # 19:00-20:30 in 30-minute periods: one hour at 2.00, the half hour from 20:00 at 1.00
    result = price_session(DAY_NIGHT, in_a_row(at(MONDAY, "19:00"), 30, 3), time_zone="UTC",
                           decimals=None)
    assert cost(result) == d("2.50")
    assert [p.start for p in result.periods] == [at(MONDAY, "19:00"), at(MONDAY, "20:00")]


def test_a_period_starting_on_a_duration_threshold_is_priced_past_it() -> None:
    # 4 x 30 minutes: the first hour at 3.00, the second at 1.00
    result = price_session(FIRST_HOUR, in_a_row(at(MONDAY, "10:00"), 30, 4), time_zone="UTC",
                           decimals=None)
    assert cost(result) == d("4.00")
    assert len(result.periods) == 2


def test_periods_alike_make_one_charging_period_with_their_volumes() -> None:
    # 12 x 5 minutes of 0.9 kWh inside the day band: one period of 10.8 kWh and 1 hour
    result = price_session(DAY_NIGHT, in_a_row(at(MONDAY, "10:00"), 5, 12, "0.9"),
                           time_zone="UTC", decimals=None)
    assert len(result.periods) == 1
    volumes = {x.type.value: x.volume for x in result.periods[0].dimensions}
    assert volumes == {"ENERGY": d("10.8"), "TIME": d("1")}
    assert cost(result) == d("2.00")


def test_a_change_of_charging_state_ends_the_period() -> None:
    t = tariff([{"price_components": [{"type": "TIME", "price": 1.20, "step_size": 1},
                                      {"type": "PARKING_TIME", "price": 6.00, "step_size": 1}]}])
    first = charging(at(MONDAY, "10:00"), 30, "5")
    second = parking(first.end, 30)
    third = parking(second.end, 30)
    result = price_session(t, [first, second, third], time_zone="UTC", decimals=None)
    # half an hour charging at 1.20, an hour parking at 6.00
    assert cost(result) == d("0.60") + d("6.00")
    assert result.total_parking_time == d("1")
    assert len(result.periods) == 2


def test_a_different_current_or_power_is_matched_again() -> None:
    t = tariff([
        {"price_components": [{"type": "ENERGY", "price": 0.50, "step_size": 1}],
         "restrictions": {"min_power": 22}},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}]}])
    slow = charging(at(MONDAY, "10:00"), 30, "5", power=11)
    fast = charging(slow.end, 30, "5", power=22)
    result = price_session(t, [slow, fast], time_zone="UTC", decimals=None)
    assert cost(result) == 5 * d("0.30") + 5 * d("0.50")


def test_a_local_date_change_is_matched_again() -> None:
    # A weekday element: Monday's last half hour and Tuesday's first, the same band of the
    # clock (no time-of-day restriction) but another day
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 4.00, "step_size": 1}],
         "restrictions": {"day_of_week": ["MONDAY"]}},
        {"price_components": [{"type": "TIME", "price": 1.00, "step_size": 1}]}])
    result = price_session(t, in_a_row(at(MONDAY, "23:00"), 30, 4), time_zone="UTC",
                           decimals=None)
    assert cost(result) == d("4.00") + d("1.00")


def test_the_repeated_hour_of_a_dst_change_is_matched_again() -> None:
    # Europe/Paris falls back on 27 Oct 2024, 03:00 CEST → 02:00 CET (01:00 UTC). A band
    # from 02:30: 00:00-00:30 UTC is 02:00-02:30 CEST (before), 00:30-01:00 UTC 02:30-03:00
    # CEST (in), 01:00-01:30 UTC 02:00-02:30 CET (before again), 01:30-02:00 UTC in again.
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 6.00, "step_size": 1}],
         "restrictions": {"start_time": "02:30", "end_time": "05:00"}},
        {"price_components": [{"type": "TIME", "price": 2.00, "step_size": 1}]}])
    start = datetime(2024, 10, 27, 0, 0, tzinfo=UTC)
    result = price_session(t, in_a_row(start, 30, 4), time_zone="Europe/Paris",
                           decimals=None)
    slow = _without_joins(t, in_a_row(start, 30, 4), "Europe/Paris")
    assert cost(result) == cost(slow)
    assert cost(result) == 2 * (d("1.00") + d("3.00"))


def _without_joins(t: object, periods: list[MeterPeriod], time_zone: str,
                   **kw: object) -> PricingResult:
    """The same pricing with every period cut and matched on its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pieces, "whole", lambda *_: False)
        return price_session(t, periods, time_zone=time_zone, **kw)  # type: ignore[arg-type]


def _alike_session(rng: random.Random) -> list[MeterPeriod]:
    """Runs of periods alike (the same charging state, power and current), of any length:
    joins are likely, across thresholds of time, kWh and duration."""
    start = datetime(2024, 3, 8, 15, 0, tzinfo=UTC) + timedelta(minutes=rng.randrange(600))
    periods: list[MeterPeriod] = []
    for _ in range(rng.randint(1, 6)):
        is_charging = rng.random() < 0.75
        power = rng.choice((None, Decimal(11), Decimal(22))) if is_charging else None
        for _ in range(rng.randint(1, 12)):
            length = timedelta(minutes=rng.choice((1, 5, 15, 30)))
            energy = Decimal(rng.choice((0, 1, 2, 2.5))) if is_charging else Decimal(0)
            at_ = periods[-1].end if periods else start
            periods.append(MeterPeriod(at_, at_ + length, energy, is_charging, None, power))
    return periods


@pytest.mark.parametrize("seed", range(200))
def test_joined_periods_price_as_periods_priced_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    t, periods = random_tariff(rng), _alike_session(rng)
    reservation = random_reservation(rng, periods)
    joined = price_session(t, periods, time_zone="Europe/Paris", reservation=reservation,
                           decimals=None)
    alone = _without_joins(t, periods, "Europe/Paris", reservation=reservation, decimals=None)
    assert joined == alone, seed


# ---- the prepared tariff -------------------------------------------------------------------

def test_an_equal_tariff_reuses_what_was_prepared() -> None:
    again = DAY_NIGHT.model_validate(DAY_NIGHT.model_dump())
    assert again is not DAY_NIGHT
    assert compiled(again) is compiled(DAY_NIGHT)


def test_a_tariff_changed_under_the_same_id_and_date_is_prepared_anew() -> None:
    # The operator edits tariffs.yaml and reloads; the tariff keeps its id and (left to the
    # file) the same last_updated: the new prices apply at once, the old session keeps its own
    stamp = datetime(2026, 12, 1, tzinfo=UTC)
    old = tariff([{"price_components": [{"type": "TIME", "price": 2.00, "step_size": 1}]}],
                 last_updated=stamp)
    new = tariff([{"price_components": [{"type": "TIME", "price": 3.00, "step_size": 1}]}],
                 last_updated=stamp)
    hour = [charging(at(MONDAY, "10:00"), 60)]
    assert cost(price_session(old, hour, time_zone="UTC")) == d("2.00")
    assert cost(price_session(new, hour, time_zone="UTC")) == d("3.00")
    assert cost(price_session(old, hour, time_zone="UTC")) == d("2.00")
    assert compiled(new) is not compiled(old)


def test_restrictions_changed_under_the_same_id_apply_at_once() -> None:
    stamp = datetime(2026, 12, 1, tzinfo=UTC)
    elements = DAY_NIGHT.model_dump(mode="json")["elements"]
    before = tariff(elements, last_updated=stamp)
    elements[0]["restrictions"]["end_time"] = "10:30"
    after = tariff(elements, last_updated=stamp)
    hour = in_a_row(at(MONDAY, "10:00"), 15, 4)
    assert cost(price_session(before, hour, time_zone="UTC")) == d("2.00")
    # 10:00-10:30 at 2.00, 10:30-11:00 at 1.00
    assert cost(price_session(after, hour, time_zone="UTC")) == d("1.50")


def test_prepared_tariffs_kept_are_bounded() -> None:
    for n in range(restrictions._COMPILED_KEPT + 10):
        compiled(tariff([{"price_components": [{"type": "FLAT", "price": 1, "step_size": 0}]}],
                        id=f"T{n}"))
    assert len(restrictions._compiled) <= restrictions._COMPILED_KEPT


def test_parking_that_takes_energy_is_priced_apart_from_parking_that_does_not() -> None:
    # Not charging, the EV still took 2 kWh in the second half hour (the meter says so):
    # that energy is billed (0.30), the hour of parking too (1.00); and the other way round
    t = tariff([{"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1},
                                      {"type": "PARKING_TIME", "price": 1.00,
                                       "step_size": 1}]}])
    idle = parking(at(MONDAY, "10:00"), 30)
    taking = MeterPeriod(idle.end, idle.end + timedelta(minutes=30), Decimal(2), False)
    for periods in ([idle, taking],
                    [MeterPeriod(idle.start, idle.end, Decimal(2), False), parking(idle.end, 30)]):
        result = price_session(t, periods, time_zone="UTC", decimals=None)
        assert result.total_energy_cost is not None
        assert result.total_energy_cost.before_taxes == d("0.60")
        assert cost(result) == d("0.60") + d("1.00")
        assert len(result.periods) == 2


def test_a_period_starting_in_the_repeated_hour_is_matched_at_its_own_time() -> None:
    # Europe/Paris falls back at 01:00 UTC on 27 Oct 2024. A band from 02:30 local: the
    # first period starts 02:35 CEST (in it: 6.00), the second 02:29:59 CET, a second
    # before the band comes round again (2.00). Read to the second, not later.
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 6.00, "step_size": 1}],
         "restrictions": {"start_time": "02:30", "end_time": "05:00"}},
        {"price_components": [{"type": "TIME", "price": 2.00, "step_size": 1}]}])
    first = MeterPeriod(datetime(2024, 10, 27, 0, 35, tzinfo=UTC),
                        datetime(2024, 10, 27, 1, 29, 59, tzinfo=UTC))
    second = MeterPeriod(first.end, datetime(2024, 10, 27, 1, 40, tzinfo=UTC))
    result = price_session(t, [first, second], time_zone="Europe/Paris", decimals=None)
    assert cost(result) == 6 * Decimal(3299) / 3600 + 2 * Decimal(601) / 3600
    assert result == _without_joins(t, [first, second], "Europe/Paris", decimals=None)


@pytest.mark.parametrize("measured", ["current", "power"])
def test_another_current_or_power_widens_the_periods_band(measured: str) -> None:
    # Nothing restricts current or power: the three periods are one charging period, whose
    # MIN/MAX of what was measured spans what each period measured
    t = tariff([{"price_components": [{"type": "TIME", "price": 1.20, "step_size": 1}]}])
    first = charging(at(MONDAY, "10:00"), 10, "1", **{measured: 16})
    second = charging(first.end, 10, "1", **{measured: 32})
    third = charging(second.end, 10, "1", **{measured: 8})
    result = price_session(t, [first, second, third], time_zone="UTC", decimals=None)
    [period] = result.periods
    volumes = {x.type.value: x.volume for x in period.dimensions}
    name = measured.upper()
    assert (volumes[f"MIN_{name}"], volumes[f"MAX_{name}"]) == (d("8"), d("32"))
    assert cost(result) == d("0.60")


def test_a_period_that_measured_nothing_keeps_the_band() -> None:
    t = tariff([{"price_components": [{"type": "TIME", "price": 1.20, "step_size": 1}]}])
    first = charging(at(MONDAY, "10:00"), 10, "1", current=16, power=11)
    second = charging(first.end, 10, "1")  # the charger sent no current nor power then
    [period] = price_session(t, [first, second], time_zone="UTC", decimals=None).periods
    volumes = {x.type.value: x.volume for x in period.dimensions}
    assert (volumes["MIN_CURRENT"], volumes["MAX_CURRENT"]) == (d("16"), d("16"))
    assert (volumes["MIN_POWER"], volumes["MAX_POWER"]) == (d("11"), d("11"))


def test_a_period_after_the_band_starts_in_the_repeated_hour_is_matched_again() -> None:
    # 02:00-02:30:30 CET (the repeated hour) is one piece before the 02:30 band; the next
    # period starts half a minute into the band: matched again, as priced one by one
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 6.00, "step_size": 1}],
         "restrictions": {"start_time": "02:30", "end_time": "05:00"}},
        {"price_components": [{"type": "TIME", "price": 2.00, "step_size": 1}]}])
    first = MeterPeriod(datetime(2024, 10, 27, 1, 0, tzinfo=UTC),
                        datetime(2024, 10, 27, 1, 30, 30, tzinfo=UTC))
    second = MeterPeriod(first.end, datetime(2024, 10, 27, 1, 40, tzinfo=UTC))
    result = price_session(t, [first, second], time_zone="Europe/Paris", decimals=None)
    assert result == _without_joins(t, [first, second], "Europe/Paris", decimals=None)
    assert len(result.periods) == 2
