"""Edges of the pricing rules that the worked examples do not reach (each found by mutation
testing: a change to the engine that no other test noticed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ocpi_gateway.tariffs.pricing import (
    MeterPeriod,
    ReservationOutcome,
    ReservationSpan,
    price_session,
)
from tests.tariffs.pricing_helpers import MONDAY, at, charging, d, excl_incl, tariff

BEFORE_AFTER_17 = tariff([
    {"price_components": [{"type": "TIME", "price": 1.20, "step_size": 1}],
     "restrictions": {"start_time": "00:00", "end_time": "17:00"}},
    {"price_components": [{"type": "TIME", "price": 2.40, "step_size": 1}]}])


def test_a_period_just_before_a_boundary_is_priced_before_it() -> None:
    # 16:59:45-16:59:59 is entirely before 17:00 (evaluated at its start, to the second)
    start = at(MONDAY, "16:59") + timedelta(seconds=45)
    period = MeterPeriod(start, start + timedelta(seconds=14), Decimal("0.01"))
    result = price_session(BEFORE_AFTER_17, [period], time_zone="UTC", decimals=None)
    assert result.total_cost.before_taxes == d("1.20") * 14 / 3600
    late = MeterPeriod(at(MONDAY, "17:00"), at(MONDAY, "17:00") + timedelta(seconds=14),
                       Decimal("0.01"))
    assert price_session(BEFORE_AFTER_17, [late], time_zone="UTC",
                         decimals=None).total_cost.before_taxes == d("2.40") * 14 / 3600


def test_the_first_unrestricted_element_wins_over_later_ones() -> None:
    # A fallback placed first hides the later elements of its dimension: billed once
    t = tariff([
        {"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": 0.50, "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": 0.70, "step_size": 1}],
         "restrictions": {"min_kwh": 0}}])
    result = price_session(t, [charging(MONDAY, 60, 10)], time_zone="UTC")
    assert result.total_cost.before_taxes == d("3.00")


def test_a_period_starting_on_a_kwh_threshold_is_cut_at_the_next_one() -> None:
    # Bands [0, 5), [5, 10), [10, ...): a second period starting exactly at 5 kWh and charging
    # 7 more is cut at 10 kWh: 5 x 0.10 + 5 x 0.20 + 2 x 0.30 = 2.10
    t = tariff([
        {"price_components": [{"type": "ENERGY", "price": 0.10, "step_size": 1}],
         "restrictions": {"max_kwh": 5}},
        {"price_components": [{"type": "ENERGY", "price": 0.20, "step_size": 1}],
         "restrictions": {"min_kwh": 5, "max_kwh": 10}},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}]}])
    first = charging(MONDAY, 30, 5)
    second = charging(first.end, 70, 7)
    result = price_session(t, [first, second], time_zone="UTC", decimals=None)
    assert result.total_cost.before_taxes == d("2.10")
    assert [p.start for p in result.periods] == [
        MONDAY, first.end, first.end + timedelta(minutes=50)]


def test_booking_overtime_restricted_by_time_of_day_and_a_session_start_fee() -> None:
    # Overtime costs 6.00 per hour only from 18:00 (local), nothing before; the session has
    # a start fee. Slot ends 17:30, session until 18:30: 30 minutes overtime at 6.00 = 3.00
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 6.00, "step_size": 60}],
         "restrictions": {"booking": "BOOKING_OVERTIME", "start_time": "18:00",
                          "end_time": "23:00"}},
        {"price_components": [{"type": "FLAT", "price": 1.00, "step_size": 1},
                              {"type": "ENERGY", "price": 0.30, "step_size": 1}]}])
    amsterdam = datetime(2024, 3, 4, 15, 30, tzinfo=UTC)  # 16:30 local
    session = MeterPeriod(amsterdam, amsterdam + timedelta(hours=2), Decimal(10))
    booking = ReservationSpan(amsterdam - timedelta(minutes=5), amsterdam,
                              ReservationOutcome.USED, booking=True,
                              slot_end=amsterdam + timedelta(hours=1))
    result = price_session(t, [session], time_zone="Europe/Amsterdam", reservation=booking)
    assert excl_incl(result.total_reservation_cost)[0] == d("3.00")
    assert excl_incl(result.total_fixed_cost)[0] == d("1.00")
    assert result.total_cost.before_taxes == d("7.00")
    # a slot ending 10 seconds before 18:00 local: those 10 seconds are not 18:00 yet
    late_slot = ReservationSpan(booking.start, booking.end, ReservationOutcome.USED,
                                booking=True,
                                slot_end=amsterdam + timedelta(minutes=89, seconds=50))
    late = price_session(t, [session], time_zone="Europe/Amsterdam", reservation=late_slot)
    assert excl_incl(late.total_reservation_cost)[0] == d("3.00")


def _hourly(restrictions: dict[str, object]) -> object:
    return tariff([
        {"price_components": [{"type": "TIME", "price": 1, "step_size": 1}],
         "restrictions": restrictions},
        {"price_components": [{"type": "TIME", "price": 2, "step_size": 1}]}])


def _price_at(restrictions: dict[str, object], hhmm: str) -> Decimal:
    t = _hourly(restrictions)
    period = charging(at(MONDAY, hhmm), 1, 1)
    return price_session(t, [period], time_zone="UTC",  # type: ignore[arg-type]
                         decimals=None).total_cost.before_taxes * 60


def test_time_windows_at_their_edges() -> None:
    # start_time alone: from that minute on (inclusive)
    assert [_price_at({"start_time": "17:00"}, t) for t in ("16:59", "17:00")] == [2, 1]
    # end_time alone: until that minute (exclusive); 00:00 alone is the end of the day
    assert [_price_at({"end_time": "17:00"}, t) for t in ("16:59", "17:00")] == [1, 2]
    assert _price_at({"end_time": "00:00"}, "23:59") == 1
    # 00:00 to 00:00 is the whole day; a start equal to a later end is an empty window
    assert _price_at({"start_time": "00:00", "end_time": "00:00"}, "12:00") == 1
    assert _price_at({"start_time": "10:00", "end_time": "10:00"}, "10:00") == 2
    # a window wrapping midnight includes its start, excludes its end
    assert [_price_at({"start_time": "22:00", "end_time": "06:00"}, t)
            for t in ("21:59", "22:00", "05:59", "06:00")] == [2, 1, 1, 2]


def test_kwh_and_duration_bounds_at_their_edges() -> None:
    # min inclusive, max exclusive, measured at the start of the period
    t = tariff([
        {"price_components": [{"type": "ENERGY", "price": 1, "step_size": 1}],
         "restrictions": {"min_kwh": 2, "max_kwh": 4, "min_duration": 600,
                          "max_duration": 1200}},
        {"price_components": [{"type": "ENERGY", "price": 2, "step_size": 1}]}])
    first = charging(MONDAY, 10, 2)       # 0-10 min, 0-2 kWh: too early, too little
    second = charging(first.end, 10, 2)   # 10-20 min, 2-4 kWh: inside
    third = charging(second.end, 10, 2)   # 20-30 min, 4-6 kWh: too late, too much
    result = price_session(t, [first, second, third], time_zone="UTC", decimals=None)
    assert [p.cost for p in result.periods] == [4, 2, 4]


def test_the_next_time_boundary_is_found_from_any_start() -> None:
    # 17:00-20:00 charging costs 2.40 per hour, after 20:00 too (another element): only the
    # period boundaries show where the engine cut. A period starting on a boundary, or just
    # after one, or in the middle of an hour is still cut at the next boundary (20:00).
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 1.20, "step_size": 1}],
         "restrictions": {"start_time": "00:00", "end_time": "17:00"}},
        {"price_components": [{"type": "TIME", "price": 2.40, "step_size": 1}],
         "restrictions": {"start_time": "17:00", "end_time": "20:00"}},
        {"price_components": [{"type": "TIME", "price": 3.00, "step_size": 1}]}])
    for start in (at(MONDAY, "17:00"), at(MONDAY, "17:00") + timedelta(seconds=30),
                  at(MONDAY, "17:30")):
        before = charging(at(MONDAY, "16:30"), (start - at(MONDAY, "16:30")).seconds / 60, 1)
        periods = [before, MeterPeriod(start, at(MONDAY, "20:30"), Decimal(5))]
        result = price_session(t, periods, time_zone="UTC", decimals=None)
        assert [p.start for p in result.periods][-2:] == [at(MONDAY, "17:00"),
                                                          at(MONDAY, "20:00")], start
        assert result.periods[-1].cost == d("1.50"), start  # 30 minutes at 3.00


def test_merged_periods_report_the_lowest_and_highest_current_and_power() -> None:
    # Three meter periods priced alike become one CDR period: MIN/MAX over them
    t = tariff([{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}])
    first = charging(MONDAY, 10, 1, current=16, power=11)
    second = charging(first.end, 10, 1, current=8, power=5)
    third = charging(second.end, 10, 1, current=32, power=22)
    unmeasured = MeterPeriod(MONDAY - timedelta(minutes=10), MONDAY, Decimal(1))
    result = price_session(t, [unmeasured, first, second, third], time_zone="UTC")
    assert len(result.periods) == 1
    dims = {x.type.value: x.volume for x in result.periods[0].dimensions}
    assert (dims["MIN_CURRENT"], dims["MAX_CURRENT"]) == (8, 32)
    assert (dims["MIN_POWER"], dims["MAX_POWER"]) == (5, 22)


def test_a_period_starting_on_a_duration_threshold_is_cut_at_the_next_one() -> None:
    # Bands by session duration: [0, 10 min), [10, 20 min), then; the second meter period
    # starts exactly at 10 minutes and runs to 30: cut at 20 minutes
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 1, "step_size": 1}],
         "restrictions": {"max_duration": 600}},
        {"price_components": [{"type": "TIME", "price": 2, "step_size": 1}],
         "restrictions": {"max_duration": 1200}},
        {"price_components": [{"type": "TIME", "price": 3, "step_size": 1}]}])
    first = charging(MONDAY, 10, 1)
    result = price_session(t, [first, charging(first.end, 20, 2)], time_zone="UTC")
    assert [p.start for p in result.periods] == [
        MONDAY, first.end, first.end + timedelta(minutes=10)]


def test_a_period_with_one_naive_end_is_refused() -> None:
    import pytest

    from ocpi_gateway.tariffs.pricing import PricingError
    t = tariff([{"price_components": [{"type": "ENERGY", "price": 1, "step_size": 1}]}])
    naive_end = MeterPeriod(MONDAY, datetime(2024, 3, 4, 1, 0), Decimal(1))
    with pytest.raises(PricingError, match="timezone-aware"):
        price_session(t, [naive_end], time_zone="UTC")


def test_minutes_of_a_time_restriction_count() -> None:
    assert [_price_at({"start_time": "16:45"}, t) for t in ("16:40", "16:45")] == [2, 1]


def test_the_first_period_alone_finds_the_next_boundary() -> None:
    # No earlier period to have found it: from 17:30, and from 19:59:50, the next is 20:00
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 2.40, "step_size": 1}],
         "restrictions": {"start_time": "17:00", "end_time": "20:00"}},
        {"price_components": [{"type": "TIME", "price": 3.00, "step_size": 1}]}])
    for start in (at(MONDAY, "17:30"), at(MONDAY, "19:59") + timedelta(seconds=50),
                  at(MONDAY, "17:00") + timedelta(seconds=30)):
        result = price_session(t, [MeterPeriod(start, at(MONDAY, "20:30"), Decimal(3))],
                               time_zone="UTC")
        assert [p.start for p in result.periods] == [start, at(MONDAY, "20:00")], start


def test_booking_overtime_is_matched_at_its_local_time_to_the_second() -> None:
    # Overtime costs 6.00 per hour from 18:40 local. The slot ends 18:40:30 (Amsterdam, UTC+1
    # in March); the session runs to 19:30: 49.5 minutes of overtime, 4.95. Read to the
    # second (not 18:39:30, not 17:20:30), overtime starts inside the window.
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 6.00, "step_size": 1}],
         "restrictions": {"booking": "BOOKING_OVERTIME", "start_time": "18:40",
                          "end_time": "23:00"}},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}]}])
    start = datetime(2024, 3, 4, 15, 30, tzinfo=UTC)  # 16:30 local
    session = MeterPeriod(start, start + timedelta(hours=3), Decimal(10))
    booking = ReservationSpan(start - timedelta(minutes=5), start, ReservationOutcome.USED,
                              booking=True,
                              slot_end=start + timedelta(hours=2, minutes=10, seconds=30))
    result = price_session(t, [session], time_zone="Europe/Amsterdam", reservation=booking,
                           decimals=None)
    assert result.total_reservation_cost is not None
    assert result.total_reservation_cost.before_taxes == d("4.95")
    assert result.total_cost.before_taxes == d("4.95") + d("3.00")  # and 10 kWh at 0.30


def test_a_kwh_threshold_within_the_first_microsecond_still_cuts_the_period() -> None:
    # Regression: 2 kWh (A, 0.10) is reached 0.1 Wh into the second period, sooner than the
    # microsecond the cut is timed to; the period was priced whole at A (1.20 in all). Now
    # it is cut a microsecond in: 2 kWh at A, 3 kWh at B (0.20, up to 5 kWh), 6.9999999 at
    # C (0.40), and the 1 Wh steps bill the 11.9999999 kWh as 12 (the extra at C): 3.60
    t = tariff([
        {"price_components": [{"type": "ENERGY", "price": 0.10, "step_size": 1}],
         "restrictions": {"max_kwh": 2}},
        {"price_components": [{"type": "ENERGY", "price": 0.20, "step_size": 1}],
         "restrictions": {"max_kwh": 5}},
        {"price_components": [{"type": "ENERGY", "price": 0.40, "step_size": 1}]}])
    first = charging(at(MONDAY, "10:00"), 30, "1.9999999")
    second = MeterPeriod(first.end, first.end + timedelta(minutes=1), Decimal(10))
    result = price_session(t, [first, second], time_zone="UTC", decimals=None)
    assert result.total_cost.before_taxes == d("3.60")
    energy = [next(x.volume for x in p.dimensions if x.type.value == "ENERGY")
              for p in result.periods]
    assert energy == [d("2"), d("3"), d("6.9999999")]
    assert result.periods[1].start == first.end + timedelta(microseconds=1)


def test_a_reservation_with_one_naive_end_is_refused() -> None:
    import pytest

    from ocpi_gateway.tariffs.pricing import PricingError
    t = tariff([{"price_components": [{"type": "TIME", "price": 1, "step_size": 1}],
                 "restrictions": {"reservation": "RESERVATION"}}])
    for start, end in ((MONDAY, datetime(2024, 3, 4, 1, 0)),
                       (datetime(2024, 3, 3, 23, 0), MONDAY)):
        span = ReservationSpan(start, end, ReservationOutcome.USED)
        with pytest.raises(PricingError, match="timezone-aware"):
            price_session(t, [], time_zone="UTC", reservation=span)


def test_a_booked_sessions_energy_counts_from_period_to_period() -> None:
    # A used booking (slot to 12:00) and two periods of 4 kWh: the 5 kWh threshold is passed
    # 1 kWh into the second; 5 kWh at 0.20, 3 at 0.40
    t = tariff([
        {"price_components": [{"type": "ENERGY", "price": 0.20, "step_size": 1}],
         "restrictions": {"max_kwh": 5}},
        {"price_components": [{"type": "ENERGY", "price": 0.40, "step_size": 1}]}])
    first = charging(at(MONDAY, "10:00"), 30, "4")
    second = charging(first.end, 30, "4")
    booking = ReservationSpan(at(MONDAY, "09:50"), first.start, ReservationOutcome.USED,
                              booking=True, slot_end=at(MONDAY, "12:00"))
    result = price_session(t, [first, second], time_zone="UTC", reservation=booking,
                           decimals=None)
    assert result.total_cost.before_taxes == 5 * d("0.20") + 3 * d("0.40")


def test_a_reservation_takes_no_energy_so_kwh_restrictions_never_match_it() -> None:
    t = tariff([
        {"price_components": [{"type": "TIME", "price": 3.00, "step_size": 1}],
         "restrictions": {"reservation": "RESERVATION", "min_kwh": 0.5}},
        {"price_components": [{"type": "TIME", "price": 1.00, "step_size": 1}],
         "restrictions": {"reservation": "RESERVATION"}}])
    span = ReservationSpan(at(MONDAY, "10:00"), at(MONDAY, "11:00"), ReservationOutcome.USED)
    result = price_session(t, [], time_zone="UTC", reservation=span, decimals=None)
    assert result.total_cost.before_taxes == d("1.00")
