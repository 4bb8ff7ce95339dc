"""A finished session → its CDR, and a CDR → its Credit CDR (``cdrs/builder.py``)."""

from __future__ import annotations

from decimal import Decimal

from ocpi_gateway.cdrs.builder import credit_of, negated, session_cdr
from ocpi_gateway.cdrs.models import CdrKind
from ocpi_gateway.money import Price, Tax
from ocpi_gateway.sessions import costing
from ocpi_gateway.sessions.models import AuthMethod, HoldEnd, HoldKind
from ocpi_gateway.tariffs.pricing import CdrDimension, CdrDimensionType
from tests.sessions.factories import LOCATION, TARIFF, TOKEN, at, hold, session

D = CdrDimensionType


def test_a_charging_session_cdr_is_the_priced_session() -> None:
    s = session(hold=hold(end=at(10), ended=HoldEnd.USED), authorization_reference="AR1")
    cdr = session_cdr(s, CdrKind.SESSION, now=at(41))
    priced = costing.price(s, until=at(40))
    assert (cdr.id, cdr.session_id, cdr.kind) == ("S1", "S1", CdrKind.SESSION)
    assert (cdr.country_code, cdr.party_id, cdr.currency) == ("NL", "EXA", "EUR")
    assert cdr.start_date_time == at(0)  # the reservation's start
    assert cdr.end_date_time == at(40)
    assert cdr.periods == priced.periods
    assert cdr.total_cost == priced.total_cost
    assert (cdr.total_energy, cdr.total_time) == (priced.total_energy, priced.total_time)
    assert cdr.total_energy_cost == priced.total_energy_cost
    assert cdr.total_time_cost == priced.total_time_cost
    assert cdr.total_fixed_cost == priced.total_fixed_cost
    assert cdr.total_parking_time == priced.total_parking_time
    assert cdr.total_parking_cost == priced.total_parking_cost
    assert cdr.total_reservation_cost == priced.total_reservation_cost
    assert cdr.total_reservation_cost is not None
    assert (cdr.token, cdr.auth_method, cdr.authorization_reference) == (
        TOKEN, AuthMethod.COMMAND, "AR1")
    assert cdr.location == LOCATION and cdr.tariffs == (TARIFF,)
    assert cdr.remark is None and not cdr.credit and cdr.credit_reference_id is None
    assert cdr.last_updated == at(41)
    assert (cdr.hold_key, cdr.hold_kind, cdr.hold_end) == ("DE-EMS/R1", HoldKind.RESERVATION,
                                                           HoldEnd.USED)
    assert (cdr.charge_point_id, cdr.ocpp_reservation_id) == ("CP-1", 3)
    assert cdr.booking_id is None


def test_a_session_without_a_reservation_starts_with_its_charging() -> None:
    cdr = session_cdr(session(), CdrKind.SESSION, now=at(41))
    assert cdr.start_date_time == at(10)
    assert (cdr.hold_key, cdr.hold_kind, cdr.hold_end, cdr.ocpp_reservation_id) == (
        None, None, None, None)
    assert cdr.total_reservation_cost is None


def test_a_session_start_before_its_first_reading_is_the_start() -> None:
    cdr = session_cdr(session(start_date_time=at(8)), CdrKind.SESSION, now=at(41))
    assert cdr.start_date_time == at(8)


def test_a_cdr_never_ends_before_it_starts() -> None:
    s = session(transaction_id=None, readings=(), start_date_time=at(0), end_date_time=at(0),
                hold=hold(start=at(0), end=at(0), ended=HoldEnd.EXPIRED))
    cdr = session_cdr(s, CdrKind.RESERVATION, now=at(1))
    assert cdr.end_date_time >= cdr.start_date_time


def test_a_no_show_cdr_is_its_reservation() -> None:
    s = session(transaction_id=None, readings=(), start_date_time=at(0),
                end_date_time=at(30), hold=hold(end=at(30), ended=HoldEnd.EXPIRED))
    cdr = session_cdr(s, CdrKind.RESERVATION, now=at(31))
    assert cdr.kind is CdrKind.RESERVATION
    assert (cdr.start_date_time, cdr.end_date_time) == (at(0), at(30))
    assert [d.type for p in cdr.periods for d in p.dimensions] == [D.RESERVATION_EXPIRES]
    # The no-show fee and 30 minutes at 1.20/h.
    assert cdr.total_cost.before_taxes == Decimal("5.60")
    assert cdr.remark == "Reservation expired unused (no-show)"
    assert cdr.total_energy == 0


def test_the_remark_says_why_an_unused_reservation_is_billed() -> None:
    for ended, remark in ((HoldEnd.CANCELLED,
                           "Reservation cancelled after its free cancellation window"),
                          (HoldEnd.USED,
                           "Reservation used at the charger; no charging session followed")):
        s = session(transaction_id=None, readings=(), start_date_time=at(0),
                    end_date_time=at(20), hold=hold(end=at(20), ended=ended))
        assert session_cdr(s, CdrKind.RESERVATION, now=at(21)).remark == remark
    booking = session(transaction_id=None, readings=(), start_date_time=at(0),
                      end_date_time=at(20),
                      hold=hold(end=at(20), ended=HoldEnd.EXPIRED, kind=HoldKind.BOOKING,
                                booking_id="B-1"))
    cdr = session_cdr(booking, CdrKind.RESERVATION, now=at(21))
    assert cdr.remark == "Booking expired unused (no-show)"
    assert cdr.booking_id == "B-1" and cdr.hold_kind is HoldKind.BOOKING


def test_a_reservation_that_held_nothing_still_has_one_period() -> None:
    for ended, kind in ((HoldEnd.EXPIRED, D.RESERVATION_EXPIRES),
                        (HoldEnd.CANCELLED, D.RESERVATION_TIME)):
        s = session(transaction_id=None, readings=(), start_date_time=at(1),
                    end_date_time=at(2), hold=hold(start=at(2), end=at(2), ended=ended))
        [period] = session_cdr(s, CdrKind.RESERVATION, now=at(3)).periods
        assert period.start == at(2) and period.tariff_id == "T1"  # the hold's start
        assert period.dimensions == (CdrDimension(kind, Decimal(0)),)
        assert period.cost == 0
    untariffed = session(transaction_id=None, readings=(), tariff=None,
                         start_date_time=at(0), end_date_time=at(0),
                         hold=hold(start=at(0), end=at(0), ended=HoldEnd.CANCELLED))
    [period] = session_cdr(untariffed, CdrKind.RESERVATION, now=at(1)).periods
    assert period.tariff_id == ""


def test_a_reservation_cdr_names_the_charger_of_its_hold() -> None:
    s = session(transaction_id=None, readings=(), charge_point_id=None,
                hold=hold(end=at(30), ended=HoldEnd.EXPIRED, charge_point_id="CP-9"))
    assert session_cdr(s, CdrKind.RESERVATION, now=at(31)).charge_point_id == "CP-9"
    assert session_cdr(session(charge_point_id=None), CdrKind.SESSION,
                       now=at(41)).charge_point_id is None


def test_a_credit_cdr_negates_the_total_cost_only() -> None:
    cdr = session_cdr(session(hold=hold(end=at(10), ended=HoldEnd.USED)), CdrKind.SESSION,
                      now=at(41))
    credit = credit_of(cdr, now=at(90), remark="x" * 300)
    assert (credit.id, credit.credit, credit.credit_reference_id) == ("S1-C", True, "S1")
    assert credit.total_cost == negated(cdr.total_cost)
    assert credit.total_cost.before_taxes == -cdr.total_cost.before_taxes
    assert credit.total_energy_cost == cdr.total_energy_cost
    assert credit.periods == cdr.periods and credit.session_id == cdr.session_id
    assert credit.remark == "x" * 255 and credit.last_updated == at(90)
    assert cdr.id == "S1" and not cdr.credit  # the original is unchanged


def test_negated_prices_keep_their_taxes() -> None:
    assert negated(Price(before_taxes=Decimal("2.00"))) == Price(before_taxes=Decimal("-2.00"))
    price = Price(before_taxes=Decimal("10.00"), taxes=[
        Tax(name="VAT", amount=Decimal("2.10"), percentage=Decimal(21), account_number="A1"),
        Tax(name="CITY", amount=Decimal("0.50"))])
    assert negated(price) == Price(before_taxes=Decimal("-10.00"), taxes=[
        Tax(name="VAT", amount=Decimal("-2.10"), percentage=Decimal(21), account_number="A1"),
        Tax(name="CITY", amount=Decimal("-0.50"))])
    assert negated(price).after_taxes == Decimal("-12.60")
