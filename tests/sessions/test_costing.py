"""The pricing glue of sessions (``sessions/costing.py``), by hand-computed cases: readings
into meter periods, the reservation or booking into the engine's span, priced and unpriced
figures, the periods a running session shows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ocpi_gateway.money import Price
from ocpi_gateway.sessions import costing
from ocpi_gateway.sessions.models import (
    ChargingState,
    HoldEnd,
    HoldKind,
    MeterReading,
    SessionStatus,
)
from ocpi_gateway.tariffs.models import Tariff
from ocpi_gateway.tariffs.pricing import (
    CdrDimension,
    CdrDimensionType,
    MeterPeriod,
    ReservationOutcome,
    ReservationSpan,
    price_session,
)
from tests.sessions.factories import TARIFF, at, hold, readings, session

D = CdrDimensionType


def test_two_readings_are_one_period_of_what_the_register_moved() -> None:
    assert costing.meter_periods(readings((0, 1500), (30, 4000))) == [
        MeterPeriod(at(0), at(30), Decimal("2.5"), True)]


def test_a_period_is_charging_as_its_first_reading_says() -> None:
    points = (MeterReading(at=at(0), wh=Decimal(0), charging=False),
              MeterReading(at=at(5), wh=Decimal(100)),
              MeterReading(at=at(9), wh=Decimal(200)))
    assert [p.charging for p in costing.meter_periods(points)] == [False, True]


def test_readings_not_after_the_previous_one_are_left_out() -> None:
    periods = costing.meter_periods(readings((0, 0), (10, 1000), (10, 1200), (5, 900),
                                             (20, 3000)))
    assert [(p.start, p.end, p.energy_kwh) for p in periods] == [
        (at(0), at(10), Decimal(1)), (at(10), at(20), Decimal(2))]


def test_a_register_that_went_back_counts_nothing() -> None:
    periods = costing.meter_periods(readings((0, 5000), (10, 1000), (20, 1500)))
    assert [p.energy_kwh for p in periods] == [Decimal(0), Decimal("0.5")]


def test_fewer_than_two_readings_are_no_period() -> None:
    assert costing.meter_periods(()) == []
    assert costing.meter_periods(readings((0, 10))) == []


def test_kwh_is_the_sum_of_the_periods() -> None:
    assert costing.kwh(readings((0, 1000), (10, 1500), (20, 1200), (30, 2200))) == \
        Decimal("1.5")


def test_a_reservation_the_cpo_ended_is_not_priced() -> None:
    held = hold(end=at(20), ended=HoldEnd.CPO_CANCELLED)
    assert costing.hold_span(held, until=at(30), session_start=None) is None


def test_an_ended_reservation_spans_its_time_with_its_outcome() -> None:
    for ended, outcome in ((HoldEnd.EXPIRED, ReservationOutcome.EXPIRED),
                           (HoldEnd.CANCELLED, ReservationOutcome.CANCELLED),
                           (HoldEnd.USED, ReservationOutcome.USED)):
        span = costing.hold_span(hold(end=at(20), ended=ended), until=at(50),
                                 session_start=None)
        assert span == ReservationSpan(at(0), at(20), outcome, booking=False, slot_end=None)


def test_a_running_reservation_is_priced_as_used_until_now() -> None:
    span = costing.hold_span(hold(), until=at(7), session_start=None)
    assert span == ReservationSpan(at(0), at(7), ReservationOutcome.USED)


def test_a_reservation_never_runs_into_its_session() -> None:
    span = costing.hold_span(hold(end=at(12), ended=HoldEnd.USED), until=at(50),
                             session_start=at(10))
    assert span is not None and span.end == at(10)
    early = costing.hold_span(hold(end=at(12), ended=HoldEnd.USED), until=at(50),
                              session_start=at(12))
    assert early is not None and early.end == at(12)


def test_a_span_never_ends_before_it_starts() -> None:
    span = costing.hold_span(hold(start=at(10), end=at(12), ended=HoldEnd.USED),
                             until=at(50), session_start=at(5))
    assert span is not None and (span.start, span.end) == (at(10), at(10))


def test_a_booking_is_a_booking_span_with_its_slot() -> None:
    span = costing.hold_span(hold(kind=HoldKind.BOOKING, end=at(20), ended=HoldEnd.USED,
                                  slot_end=at(80)), until=at(90), session_start=None)
    assert span is not None and span.booking and span.slot_end == at(80)


def test_a_priced_session_is_what_the_engine_says() -> None:
    s = session(hold=hold(end=at(10), ended=HoldEnd.USED))
    expected = price_session(TARIFF, costing.meter_periods(s.readings),
                             time_zone="Europe/Amsterdam",
                             reservation=ReservationSpan(at(0), at(10),
                                                         ReservationOutcome.USED))
    assert costing.price(s, until=at(40)) == expected
    # 6 kWh at 0.30, 30 min at 2.00/h, 10 min reserved at 1.20/h.
    assert expected.total_cost.before_taxes == Decimal("3.00")


def test_the_session_time_zone_decides_local_time() -> None:
    s = session(time_zone="Asia/Tokyo")
    night = Tariff.model_validate({
        "id": "EVENING", "currency": "EUR", "elements": [{
            "price_components": [{"type": "ENERGY", "price": "0.30", "step_size": 1}],
            "restrictions": {"start_time": "17:00", "end_time": "19:00"}}]})
    # 09:10-09:40 UTC is 18:10-18:40 in Tokyo: the evening energy price applies.
    priced = costing.price(s.model_copy(update={"tariff": night}), until=at(40))
    assert priced.total_cost.before_taxes == Decimal("1.80")
    elsewhere = costing.price(s.model_copy(update={"tariff": night,
                                                   "time_zone": "Europe/Amsterdam"}),
                              until=at(40))
    assert elsewhere.total_cost.before_taxes == Decimal("0.00")


def test_without_a_tariff_the_volumes_come_at_no_cost() -> None:
    s = session(tariff=None, readings=(MeterReading(at=at(10), wh=Decimal(0)),
                                       MeterReading(at=at(25), wh=Decimal(3000),
                                                    charging=False),
                                       MeterReading(at=at(40), wh=Decimal(3500))),
                hold=hold(end=at(10), ended=HoldEnd.USED))
    result = costing.price(s, until=at(40))
    assert result.total_cost == Price(before_taxes=Decimal("0.00"), taxes=[])
    assert result.total_energy == Decimal("3.5") and result.currency == "EUR"
    assert [[d.type for d in p.dimensions] for p in result.periods] == [
        [D.RESERVATION_TIME], [D.ENERGY, D.TIME], [D.ENERGY, D.PARKING_TIME]]
    assert result.periods[0].dimensions[0].volume * 60 == 10
    assert (result.total_time * 60, result.total_parking_time * 60) == (30, 15)
    assert result.total_energy_cost is None and result.total_reservation_cost is None


def test_unpriced_periods_name_charging_and_parking() -> None:
    periods = [MeterPeriod(at(0), at(30), Decimal(2), True),
               MeterPeriod(at(30), at(45), Decimal(0), False)]
    result = costing.unpriced(periods, None, "EUR")
    assert [p.dimensions for p in result.periods] == [
        (CdrDimension(D.ENERGY, Decimal(2)), CdrDimension(D.TIME, Decimal("0.5"))),
        (CdrDimension(D.ENERGY, Decimal(0)), CdrDimension(D.PARKING_TIME, Decimal("0.25")))]
    assert [p.start for p in result.periods] == [at(0), at(30)]
    assert (result.total_time, result.total_parking_time) == (Decimal("0.75"),
                                                              Decimal("0.25"))
    assert all(p.tariff_id == "" and p.cost == 0 for p in result.periods)


def test_an_unpriced_expired_reservation_is_its_expired_time() -> None:
    span = ReservationSpan(at(0), at(45), ReservationOutcome.EXPIRED)
    result = costing.unpriced([], span, "EUR")
    assert result.periods[0].dimensions == (CdrDimension(D.RESERVATION_EXPIRES,
                                                         Decimal("0.75")),)
    assert result.total_time == Decimal("0.75") and result.total_energy == 0
    cancelled = costing.unpriced([], ReservationSpan(at(0), at(30),
                                                     ReservationOutcome.CANCELLED), "EUR")
    assert cancelled.periods[0].dimensions[0].type is D.RESERVATION_TIME


def test_a_reservation_with_no_tariff_and_no_span_is_empty() -> None:
    s = session(tariff=None, readings=(), hold=hold(end=at(5),
                                                   ended=HoldEnd.CPO_CANCELLED))
    result = costing.price(s, until=at(5))
    assert result.periods == () and result.total_time == 0


def test_a_running_session_shows_its_closed_periods_only() -> None:
    running = session(status=SessionStatus.ACTIVE, end_date_time=None, tariff=None,
                      readings=readings((10, 0), (25, 3000), (30, 3500), (40, 6000)))
    result = costing.price(running, until=at(40))
    assert [p.start for p in result.periods] == [at(10), at(25), at(30)]
    assert [p.start for p in costing.closed_periods(running, result)] == [at(10), at(25)]
    assert costing.closed_periods(session(), result) == result.periods


def test_hours_count_microseconds() -> None:
    start = at(0)
    assert costing._hours(start, start + timedelta(hours=1, microseconds=36)) == \
        Decimal(1) + Decimal("0.00001") / 1000
    assert costing._hours(start, start + timedelta(days=1)) == 24


# ---------------------------------------------------------------- parking (charging states)


def states(*changes: tuple[float, bool]) -> tuple[ChargingState, ...]:
    return tuple(ChargingState(at=at(m), charging=c) for m, c in changes)


def test_a_period_is_cut_where_the_ev_stops_asking_and_its_energy_is_the_charging_part(
        ) -> None:
    periods = costing.meter_periods(readings((0, 0), (30, 3000)), states((20, False)))
    assert [(p.start, p.end, p.energy_kwh, p.charging) for p in periods] == [
        (at(0), at(20), Decimal(3), True), (at(20), at(30), Decimal(0), False)]


def test_energy_goes_to_the_charging_parts_by_their_time() -> None:
    periods = costing.meter_periods(readings((0, 0), (40, 3000)),
                                    states((10, False), (20, True), (20, True), (50, False)))
    assert [(p.start, p.end, p.charging) for p in periods] == [
        (at(0), at(10), True), (at(10), at(20), False), (at(20), at(40), True)]
    assert [p.energy_kwh for p in periods] == [Decimal(1), Decimal(0), Decimal(2)]


def test_a_state_from_before_the_period_holds_in_it() -> None:
    periods = costing.meter_periods(readings((0, 0), (10, 500), (20, 900)),
                                    states((-5, False), (10, True)))
    assert [(p.start, p.charging, p.energy_kwh) for p in periods] == [
        (at(0), False, Decimal("0.5")), (at(10), True, Decimal("0.4"))]


def test_two_changes_at_one_moment_make_no_empty_part() -> None:
    periods = costing.meter_periods(readings((0, 0), (30, 3000)),
                                    states((10, False), (10, True), (10, False)))
    assert [(p.start, p.end, p.charging) for p in periods] == [
        (at(0), at(10), True), (at(10), at(30), False)]
    assert all(p.end > p.start for p in periods)
    assert sum(p.energy_kwh for p in periods) == 3


def test_a_state_at_the_end_belongs_to_the_next_period() -> None:
    periods = costing.meter_periods(readings((0, 0), (10, 1000), (20, 1000)),
                                    states((10, False)))
    assert [(p.start, p.end, p.charging) for p in periods] == [
        (at(0), at(10), True), (at(10), at(20), False)]


def test_parking_time_is_priced_as_parking() -> None:
    s = session(tariff=None, states=states((25, False)))
    result = costing.price(s, until=at(40))
    assert result.total_parking_time * 60 == 15
    assert result.total_energy == 6  # all of it while charging
