"""A finished session → its CDR (priced by the tariff it had, with the reservation or booking
it began with), and a CDR → its Credit CDR (mod_cdrs "Credit CDRs": the same data, an id of
its own, ``total_cost`` negated, ``credit`` and ``credit_reference_id`` set)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.money import Price, Tax
from ocpi_gateway.sessions import costing
from ocpi_gateway.sessions.models import HoldEnd, HoldKind, Session
from ocpi_gateway.tariffs.pricing import CdrDimension, CdrDimensionType, PricedPeriod

CREDIT_SUFFIX = "-C"

_REMARKS = {
    HoldEnd.EXPIRED: "{kind} expired unused (no-show)",
    HoldEnd.CANCELLED: "{kind} cancelled after its free cancellation window",
    HoldEnd.USED: "{kind} used at the charger; no charging session followed",
}


def session_cdr(session: Session, kind: CdrKind, *, now: datetime) -> Cdr:
    """The CDR of a COMPLETED ``session`` (see ``charges.cdr_due``); its id is the session's
    (one CDR per session)."""
    assert session.token is not None and session.end_date_time is not None
    assert session.cdr_location is not None
    result = costing.price(session, until=session.end_date_time)
    periods = result.periods or (_empty_reservation(session),)
    start = min(periods[0].start, session.start_date_time)
    hold = session.hold
    remark = None
    if kind is CdrKind.RESERVATION and hold is not None and hold.ended is not None:
        what = "booking" if hold.kind is HoldKind.BOOKING else "reservation"
        remark = _REMARKS[hold.ended].format(kind=what).capitalize()
    # From typed parts: validating them costs less than half what model_construct does.
    return Cdr.model_validate(dict(
        id=session.id, country_code=session.country_code, party_id=session.party_id,
        kind=kind, start_date_time=start,
        end_date_time=max(session.end_date_time, start), session_id=session.id,
        booking_id=hold.booking_id if hold is not None else None, token=session.token,
        auth_method=session.auth_method,
        authorization_reference=session.authorization_reference,
        location=session.cdr_location, currency=session.currency,
        tariffs=(session.tariff,) if session.tariff is not None else (), periods=periods,
        total_cost=result.total_cost, total_fixed_cost=result.total_fixed_cost,
        total_energy=result.total_energy, total_energy_cost=result.total_energy_cost,
        total_time=result.total_time, total_time_cost=result.total_time_cost,
        total_parking_time=result.total_parking_time,
        total_parking_cost=result.total_parking_cost,
        total_reservation_cost=result.total_reservation_cost, remark=remark,
        last_updated=now, hold_key=hold.key if hold is not None else None,
        hold_kind=hold.kind if hold is not None else None,
        hold_end=hold.ended if hold is not None else None,
        charge_point_id=session.charge_point_id or (hold.charge_point_id if hold else None),
        ocpp_reservation_id=hold.ocpp_reservation_id if hold is not None else None))


def credit_of(cdr: Cdr, *, now: datetime, remark: str) -> Cdr:
    """The Credit CDR of ``cdr``."""
    return cdr.model_copy(update={
        "id": cdr.id + CREDIT_SUFFIX, "credit": True, "credit_reference_id": cdr.id,
        "total_cost": negated(cdr.total_cost), "remark": remark[:255], "last_updated": now})


def negated(price: Price) -> Price:
    if price.taxes is None:
        return Price(before_taxes=-price.before_taxes)
    return Price(before_taxes=-price.before_taxes,
                 taxes=[Tax(name=t.name, amount=-t.amount, percentage=t.percentage,
                            account_number=t.account_number) for t in price.taxes])


def _empty_reservation(session: Session) -> PricedPeriod:
    """A reservation that held nothing for any time still has its one charging period (a CDR
    has at least one)."""
    hold = session.hold
    start = hold.start if hold is not None else session.start_date_time
    kind = CdrDimensionType.RESERVATION_EXPIRES \
        if hold is not None and hold.ended is HoldEnd.EXPIRED \
        else CdrDimensionType.RESERVATION_TIME
    tariff_id = session.tariff.id if session.tariff is not None else ""
    return PricedPeriod(start, (CdrDimension(kind, Decimal(0)),), tariff_id, Decimal(0))
