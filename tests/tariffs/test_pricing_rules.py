"""The pricing engine's rules on hand-computed cases (each figure worked out in its comment):
local time, restrictions at period start, cuts inside a meter period, element order, VAT and
tax_included, bookings, price limits, rounding, and the inputs it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ocpi_gateway.money import TaxIncluded
from ocpi_gateway.tariffs.pricing import (
    CdrDimensionType,
    MeterPeriod,
    PricingError,
    ReservationOutcome,
    ReservationSpan,
    price_session,
)
from tests.tariffs.pricing_helpers import (
    MONDAY,
    at,
    charging,
    d,
    excl_incl,
    parking,
    tariff,
    then_charging,
    then_parking,
)

DAY_NIGHT = tariff([
    {"price_components": [{"type": "ENERGY", "price": 0.40, "step_size": 1}],
     "restrictions": {"start_time": "08:00", "end_time": "20:00"}},
    {"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}]}])


def dims(result_period: object) -> dict[CdrDimensionType, Decimal]:
    return {x.type: x.volume for x in result_period.dimensions}  # type: ignore[attr-defined]


def test_time_of_day_is_the_locations_local_time() -> None:
    # 18:30-19:30 UTC is 19:30-20:30 in Amsterdam (UTC+1 in March): 1 kWh at 0.40 until
    # 20:00 local (19:00 UTC), 1 kWh at 0.30 after; the single meter period is cut there
    result = price_session(DAY_NIGHT, [charging(at(MONDAY, "18:30"), 60, 2)],
                           time_zone="Europe/Amsterdam", decimals=None)
    assert result.total_cost.before_taxes == d("0.70")
    assert [p.start for p in result.periods] == [at(MONDAY, "18:30"), at(MONDAY, "19:00")]
    assert [dims(p)[CdrDimensionType.ENERGY] for p in result.periods] == [1, 1]
    # the same UTC times in UTC itself: all before 20:00, all at 0.40
    utc = price_session(DAY_NIGHT, [charging(at(MONDAY, "18:30"), 60, 2)], time_zone="UTC")
    assert utc.total_cost.before_taxes == d("0.80") and len(utc.periods) == 1


def test_local_time_follows_daylight_saving_time() -> None:
    # 31 March 2024, Amsterdam goes to UTC+2 at 01:00 UTC. 18:00 UTC is 20:00 local in
    # summer: a session 17:30-18:30 UTC is cut at 18:00 UTC (not 19:00 as in winter)
    summer = datetime(2024, 4, 1, 17, 30, tzinfo=UTC)
    result = price_session(DAY_NIGHT, [charging(summer, 60, 2)], time_zone="Europe/Amsterdam",
                           decimals=None)
    assert [p.start for p in result.periods] == [summer, summer + timedelta(minutes=30)]
    assert result.total_cost.before_taxes == d("0.70")


def test_night_window_wraps_past_midnight_and_end_of_day_is_00_00() -> None:
    night = tariff([
        {"price_components": [{"type": "TIME", "price": 1.00, "step_size": 1}],
         "restrictions": {"start_time": "22:00", "end_time": "06:00"}},
        {"price_components": [{"type": "TIME", "price": 3.00, "step_size": 1}],
         "restrictions": {"start_time": "18:00", "end_time": "00:00"}},
        {"price_components": [{"type": "TIME", "price": 2.00, "step_size": 1}]}])
    # 05:00-07:00: 1 h at 1.00 (night), 1 h at 2.00 (day) = 3.00
    early = price_session(night, [charging(at(MONDAY, "05:00"), 120, 5)], time_zone="UTC")
    assert early.total_cost.before_taxes == d("3.00")
    # 21:00-23:00: 21-22 at 3.00 (18:00 until the end of the day), 22-23 night 1.00 = 4.00
    late = price_session(night, [charging(at(MONDAY, "21:00"), 120, 5)], time_zone="UTC")
    assert late.total_cost.before_taxes == d("4.00")


def test_day_of_week_and_dates_change_at_local_midnight() -> None:
    weekend = tariff([
        {"price_components": [{"type": "TIME", "price": 1.00, "step_size": 1}],
         "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]}},
        {"price_components": [{"type": "TIME", "price": 4.00, "step_size": 1}],
         "restrictions": {"start_date": "2024-03-04", "end_date": "2024-03-05"}},
        {"price_components": [{"type": "TIME", "price": 2.00, "step_size": 1}]}])
    # Sunday 23:00 - Monday 01:00 local (UTC+1): 1 h weekend (1.00) + 1 h on the 4th (4.00)
    sunday_late = datetime(2024, 3, 3, 22, 0, tzinfo=UTC)
    result = price_session(weekend, [charging(sunday_late, 120, 5)],
                           time_zone="Europe/Amsterdam", decimals=None)
    assert result.total_cost.before_taxes == d("5.00")
    # each of day_of_week, start_date and end_date alone cuts at local midnight
    for restriction in ({"day_of_week": ["SUNDAY"]}, {"end_date": "2024-03-04"},
                        {"start_date": "2024-03-04"}):
        alone = tariff([
            {"price_components": [{"type": "TIME", "price": 1, "step_size": 1}],
             "restrictions": restriction},
            {"price_components": [{"type": "TIME", "price": 3, "step_size": 1}]}])
        priced = price_session(alone, [charging(sunday_late, 120, 5)],
                               time_zone="Europe/Amsterdam", decimals=None)
        assert [p.start for p in priced.periods] == [
            sunday_late, sunday_late + timedelta(hours=1)], restriction
    # end_date is exclusive: the 5th is back at 2.00
    tuesday = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
    assert price_session(weekend, [charging(tuesday, 60, 5)],
                         time_zone="Europe/Amsterdam").total_cost.before_taxes == d("2.00")


def test_kwh_threshold_inside_one_meter_period() -> None:
    # The first 10 kWh at 0.30, then 0.50 (min_kwh inclusive, max_kwh exclusive). 15 kWh in
    # one hour: cut at 40 minutes (10/15 of it): 10 x 0.30 + 5 x 0.50 = 5.50
    volume = tariff([
        {"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}],
         "restrictions": {"max_kwh": 10}},
        {"price_components": [{"type": "ENERGY", "price": 0.50, "step_size": 1}],
         "restrictions": {"min_kwh": 10}}])
    result = price_session(volume, [charging(MONDAY, 60, 15)], time_zone="UTC", decimals=None)
    assert result.total_cost.before_taxes == d("5.50")
    assert [p.start for p in result.periods] == [MONDAY, MONDAY + timedelta(minutes=40)]
    assert [dims(p)[CdrDimensionType.ENERGY] for p in result.periods] == [10, 5]
    # the same energy over three meter periods gives the same figures
    first = charging(MONDAY, 20, 6)
    second = then_charging(first, 20, 6)
    split = price_session(volume, [first, second, then_charging(second, 20, 3)],
                          time_zone="UTC", decimals=None)
    assert split.total_cost == result.total_cost


def test_idle_fee_after_a_duration_and_only_the_last_step_rounds() -> None:
    # Parking free for the first 2 hours of the session, then 6.00 per hour per 15 minutes.
    # 100 minutes charging (time 1.20 per hour, per minute) + 50 parking: 30 minutes of
    # billed parking (from 2:00 on) rounded... is exactly 30: 2.00 + 3.00 = 5.00
    idle = tariff([
        {"price_components": [{"type": "PARKING_TIME", "price": 6.00, "step_size": 900}],
         "restrictions": {"min_duration": 7200}},
        {"price_components": [{"type": "TIME", "price": 1.20, "step_size": 60}]}])
    session = charging(MONDAY, 100, 20)
    result = price_session(idle, [session, then_parking(session, 50)], time_zone="UTC")
    assert excl_incl(result.total_time_cost)[0] == d("2.00")
    assert excl_incl(result.total_parking_cost)[0] == d("3.00")
    assert result.periods[2].start == MONDAY + timedelta(hours=2)
    # 53 minutes parking: 33 billed, rounded to 45: 4.50
    longer = price_session(idle, [session, then_parking(session, 53)], time_zone="UTC")
    assert excl_incl(longer.total_parking_cost)[0] == d("4.50")


def test_first_matching_element_per_dimension() -> None:
    # ENERGY and TIME looked up apart: element 1 has both but only below 11 kW; element 2
    # only TIME; element 3 only ENERGY. At 22 kW: TIME from element 2, ENERGY from element 3.
    split = tariff([
        {"price_components": [{"type": "ENERGY", "price": 0.20, "step_size": 1},
                              {"type": "TIME", "price": 0.60, "step_size": 1}],
         "restrictions": {"max_power": 11}},
        {"price_components": [{"type": "TIME", "price": 1.20, "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": 0.50, "step_size": 1}]}])
    slow = price_session(split, [charging(MONDAY, 60, 7, power=7)], time_zone="UTC")
    assert slow.total_cost.before_taxes == d("2.00")  # 7 x 0.20 + 0.60
    fast = price_session(split, [charging(MONDAY, 60, 22, power=22)], time_zone="UTC")
    assert fast.total_cost.before_taxes == d("12.20")  # 22 x 0.50 + 1.20
    # power not measured: a power restriction cannot be claimed to match
    unknown = price_session(split, [charging(MONDAY, 60, 7)], time_zone="UTC")
    assert unknown.total_cost.before_taxes == d("4.70")  # 7 x 0.50 + 1.20


def test_current_band_boundaries() -> None:
    # min_current inclusive, max_current exclusive
    band = tariff([
        {"price_components": [{"type": "TIME", "price": 1, "step_size": 1}],
         "restrictions": {"min_current": 16, "max_current": 32}},
        {"price_components": [{"type": "TIME", "price": 2, "step_size": 1}]}])
    prices = [price_session(band, [charging(MONDAY, 60, 5, current=c)], time_zone="UTC")
              .total_cost.before_taxes for c in (15.9, 16, 31.9, 32)]
    assert prices == [2, 1, 1, 2]


def test_no_element_for_a_dimension_costs_nothing() -> None:
    energy_only = tariff([{"price_components": [{"type": "ENERGY", "price": 0.3,
                                                 "step_size": 1}]}])
    session = charging(MONDAY, 60, 10)
    result = price_session(energy_only, [session, then_parking(session, 120)], time_zone="UTC")
    assert result.total_cost.before_taxes == d("3.00")
    assert result.total_parking_cost is None and result.total_time_cost is None
    assert result.total_parking_time == 2 and result.total_time == 3


def test_flat_once_per_session_even_when_elements_change() -> None:
    # A start fee in both elements (2.00 by day, 1.00 otherwise): billed once, from the
    # element that applies when the session starts
    fees = tariff([
        {"price_components": [{"type": "FLAT", "price": 2, "step_size": 1},
                              {"type": "TIME", "price": 1, "step_size": 1}],
         "restrictions": {"start_time": "08:00", "end_time": "20:00"}},
        {"price_components": [{"type": "FLAT", "price": 1, "step_size": 1},
                              {"type": "TIME", "price": 1, "step_size": 1}]}])
    result = price_session(fees, [charging(at(MONDAY, "19:00"), 120, 10)], time_zone="UTC")
    assert excl_incl(result.total_fixed_cost)[0] == d("2.00")
    assert result.total_cost.before_taxes == d("4.00")
    # a FLAT that only starts to apply later is billed then, still once
    later = tariff([
        {"price_components": [{"type": "FLAT", "price": 5, "step_size": 1}],
         "restrictions": {"min_duration": 3600}},
        {"price_components": [{"type": "TIME", "price": 1, "step_size": 1}]}])
    long = price_session(later, [charging(MONDAY, 150, 10)], time_zone="UTC")
    assert excl_incl(long.total_fixed_cost)[0] == d("5.00")
    assert long.periods[1].start == MONDAY + timedelta(hours=1)
    short = price_session(later, [charging(MONDAY, 50, 10)], time_zone="UTC")
    assert short.total_fixed_cost is None


def test_vat_per_rate_and_tax_included() -> None:
    # Prices including 21 % VAT: 0.605 per kWh is 0.50 before tax; 10 kWh = 5.00 + 1.05
    included = tariff([{"price_components": [{"type": "ENERGY", "price": 0.605, "vat": 21,
                                              "step_size": 1}]}], tax_included="YES")
    result = price_session(included, [charging(MONDAY, 60, 10)], time_zone="UTC")
    assert excl_incl(result.total_cost) == (d("5.00"), d("6.05"))
    assert result.total_cost.taxes is not None
    assert [(t.percentage, t.amount) for t in result.total_cost.taxes] == [(21, d("1.05"))]
    # No taxes apply (N/A) and none given: after taxes is before taxes
    untaxed = tariff([{"price_components": [{"type": "ENERGY", "price": 0.5,
                                             "step_size": 1}]}],
                     tax_included=TaxIncluded.NOT_APPLICABLE.value)
    none = price_session(untaxed, [charging(MONDAY, 60, 10)], time_zone="UTC")
    assert excl_incl(none.total_cost) == (d("5.00"), d("5.00"))
    # Two rates stay two taxes (2.3.0 taxes[]; 2.2.1 sums them into incl_vat)
    two = tariff([{"price_components": [{"type": "FLAT", "price": 1, "vat": 20, "step_size": 1},
                                        {"type": "ENERGY", "price": 0.5, "vat": 10,
                                         "step_size": 1}]}])
    both = price_session(two, [charging(MONDAY, 60, 10)], time_zone="UTC")
    assert both.total_cost.taxes is not None
    assert [(t.percentage, t.amount) for t in both.total_cost.taxes] == [
        (10, d("0.50")), (20, d("0.20"))]
    assert both.total_cost.after_taxes == d("6.70")


def test_rounding_half_up_to_the_decimals_asked() -> None:
    # 1 kWh at 0.125: 0.13 with 2 decimals (half up, not half even), 0 with 0 decimals
    t = tariff([{"price_components": [{"type": "ENERGY", "price": 0.125, "step_size": 1}]}])
    assert price_session(t, [charging(MONDAY, 10, 1)], time_zone="UTC",
                         decimals=2).total_cost.before_taxes == d("0.13")
    assert price_session(t, [charging(MONDAY, 10, 1)], time_zone="UTC",
                         decimals=0).total_cost.before_taxes == d("0")
    assert price_session(t, [charging(MONDAY, 10, 1)], time_zone="UTC",
                         decimals=None).total_cost.before_taxes == d("0.125")


def test_minimum_price_of_a_free_session_and_maximum_with_unknown_taxes() -> None:
    free = tariff([{"price_components": [{"type": "FLAT", "price": 0, "step_size": 0}]}],
                  min_price={"before_taxes": 0.5, "after_taxes": 0.6})
    result = price_session(free, [charging(MONDAY, 10, 1)], time_zone="UTC")
    assert excl_incl(result.total_cost) == (d("0.50"), d("0.60"))
    capped = tariff([{"price_components": [{"type": "TIME", "price": 10, "step_size": 1}]}],
                    max_price={"excl_vat": 5})
    over = price_session(capped, [charging(MONDAY, 60, 1)], time_zone="UTC")
    assert excl_incl(over.total_cost) == (d("5"), None) and over.limited_by == "max_price"
    assert excl_incl(over.total_time_cost)[0] == d("10.00")  # the usage stays as it was


PHASES = tariff([
    {"price_components": [{"type": "TIME", "price": 1.00, "vat": 20, "step_size": 60}],
     "restrictions": {"booking": "BOOKING"}},
    {"price_components": [{"type": "FLAT", "price": 5.00, "vat": 20, "step_size": 1}],
     "restrictions": {"booking": "BOOKING_EXPIRES"}},
    {"price_components": [{"type": "FLAT", "price": 2.00, "vat": 20, "step_size": 1}],
     "restrictions": {"booking": "BOOKING_CANCELLATION_FEES"}},
    {"price_components": [{"type": "TIME", "price": 6.00, "vat": 20, "step_size": 300}],
     "restrictions": {"booking": "BOOKING_OVERTIME"}},
    {"price_components": [{"type": "TIME", "price": 3.00, "vat": 20, "step_size": 60}],
     "restrictions": {"reservation": "RESERVATION"}},
    {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 20, "step_size": 1}]}])


def test_booking_used_with_overtime() -> None:
    # Booking phase 09:50-10:05 (15 minutes at 1.00: 0.25); the session 10:05-11:17 past the
    # slot end 11:00: 17 minutes overtime, rounded to 20 (per 5 minutes) at 6.00: 2.00
    made, started = at(MONDAY, "09:50"), at(MONDAY, "10:05")
    session = charging(started, 72, 12)
    booking = ReservationSpan(made, started, ReservationOutcome.USED, booking=True,
                              slot_end=at(MONDAY, "11:00"))
    result = price_session(PHASES, [session], time_zone="UTC", reservation=booking)
    assert excl_incl(result.total_reservation_cost) == (d("2.25"), d("2.70"))
    assert excl_incl(result.total_energy_cost) == (d("3.60"), d("4.32"))
    assert excl_incl(result.total_cost) == (d("5.85"), d("7.02"))
    assert [p.start for p in result.periods] == [made, started, at(MONDAY, "11:00")]
    last = dims(result.periods[-1])
    assert last[CdrDimensionType.RESERVATION_OVERTIME] == Decimal(17) / 60
    assert CdrDimensionType.RESERVATION_OVERTIME not in dims(result.periods[1])


def test_booking_expired_and_cancelled() -> None:
    start = at(MONDAY, "10:00")
    expired = price_session(PHASES, [], time_zone="UTC", reservation=ReservationSpan(
        start, start + timedelta(hours=1), ReservationOutcome.EXPIRED, booking=True))
    assert excl_incl(expired.total_cost) == (d("6.00"), d("7.20"))  # 5.00 fee + 1 h at 1.00
    cancelled = price_session(PHASES, [], time_zone="UTC", reservation=ReservationSpan(
        start, start + timedelta(minutes=30), ReservationOutcome.CANCELLED, booking=True))
    assert excl_incl(cancelled.total_cost) == (d("2.00"), d("2.40"))  # the fee only
    assert expired.total_time == 1 and expired.total_energy == 0


def test_reservation_elements_price_only_reservations() -> None:
    # A reservation (not a booking) of 30 minutes at 3.00 per hour, then 10 kWh: the booking
    # elements never apply to it, the reservation element never to the session
    start = at(MONDAY, "10:00")
    session = charging(start + timedelta(minutes=30), 60, 10)
    result = price_session(PHASES, [session], time_zone="UTC", reservation=ReservationSpan(
        start, session.start, ReservationOutcome.USED))
    assert excl_incl(result.total_reservation_cost)[0] == d("1.50")
    assert excl_incl(result.total_cost)[0] == d("4.50")
    assert result.total_time == 1  # the session's hours, not the reservation's


def test_refused_inputs() -> None:
    session = charging(MONDAY, 10, 1)
    t = tariff([{"price_components": [{"type": "ENERGY", "price": 1, "step_size": 1}]}])
    with pytest.raises(PricingError, match="nothing to price"):
        price_session(t, [], time_zone="UTC")
    with pytest.raises(PricingError, match="does not follow"):
        price_session(t, [session, charging(session.end + timedelta(minutes=1), 5)],
                      time_zone="UTC")
    with pytest.raises(PricingError, match="negative energy"):
        price_session(t, [charging(MONDAY, 10, -1)], time_zone="UTC")
    with pytest.raises(PricingError, match="does not end after"):
        price_session(t, [MeterPeriod(MONDAY, MONDAY)], time_zone="UTC")
    naive = datetime(2024, 3, 4, 10, 0)
    with pytest.raises(PricingError, match="timezone-aware"):
        price_session(t, [MeterPeriod(naive, naive + timedelta(minutes=1))], time_zone="UTC")
    with pytest.raises(PricingError, match="ends before"):
        price_session(t, [], time_zone="UTC", reservation=ReservationSpan(
            MONDAY, MONDAY - timedelta(minutes=1), ReservationOutcome.EXPIRED))


def test_parking_with_energy_reports_it() -> None:
    # A period not requesting power can still record a little energy (meter drift): it is
    # reported and priced as energy, its time as parking
    t = tariff([{"price_components": [{"type": "ENERGY", "price": 1, "step_size": 1},
                                      {"type": "PARKING_TIME", "price": 6, "step_size": 1}]}])
    p = MeterPeriod(MONDAY, MONDAY + timedelta(minutes=10), d("0.01"), False)
    result = price_session(t, [p], time_zone="UTC")
    assert dims(result.periods[0]) == {CdrDimensionType.ENERGY: d("0.01"),
                                       CdrDimensionType.PARKING_TIME: Decimal(10) / 60}
    assert result.total_cost.before_taxes == d("1.01")
    assert parking(MONDAY, 1).energy_kwh == 0
