"""How a session changes on each event: pure functions, each the session as it should be after
the event, or None when the event changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ocpi_gateway.domain.events import TransactionEnded, TransactionStarted
from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.sessions.models import (
    ChargingState,
    HoldEnd,
    HoldKind,
    MeterReading,
    Session,
    SessionStatus,
    SessionToken,
)
from ocpi_gateway.sessions.places import Place, Places, cdr_location


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldInfo:
    """A reservation or booking that is live now: what its session shows."""

    key: str
    kind: HoldKind = HoldKind.RESERVATION
    token: SessionToken
    authorization_reference: str | None = None
    location_id: str
    evse_uid: str | None = None
    """The EVSE held for it; None when it holds a whole charger or none yet."""
    charge_point_id: str | None = None
    ocpp_reservation_id: int | None = None
    expiry: datetime | None = None
    booking_id: str | None = None
    slot_end: datetime | None = None
    free_cancellation: timedelta | None = None
    """How long after it became live a cancellation is free (a booking: the time until its
    cancellation deadline); None: a cancellation is never billed."""


def token_matches(token: SessionToken | None, presented: str) -> bool:
    """IdTokens are case-insensitive (1.6 CiString20Type, 2.0.1 identifierString); a 1.6
    charger knows a long uid by its digest."""
    if token is None:
        return False
    folded = presented.casefold()
    return folded in (token.uid.casefold(), ocpp16_id_tag(token.uid).casefold())



def wh(value: float) -> Decimal:
    return Decimal(repr(value))


def bind(session: Session, event: TransactionStarted, place: Place | None,
          places: Places) -> Session | None:
    """The session with the transaction on it: ACTIVE from the transaction's start."""
    if session.final or session.transaction_id is not None:
        return None
    updates: dict[str, Any] = {
        "status": SessionStatus.ACTIVE, "charge_point_id": event.charge_point_id,
        "transaction_id": event.transaction_id, "ocpp_evse_id": event.evse_id,
        "ocpp_connector_id": event.connector_id, "id_token": event.id_token,
        "start_date_time": event.timestamp}
    if event.meter_start_wh is not None:
        updates["readings"] = (MeterReading(at=event.timestamp, wh=wh(event.meter_start_wh)),)
    if place is not None:
        updates.update(evse_uid=place.evse_uid, connector_id=place.connector_id,
                       cdr_location=cdr_location(place))
        party = (session.token.country_code, session.token.party_id) \
            if session.token else None
        tariff = places.tariff(place, party, event.timestamp)
        if tariff is not None:
            updates.update(tariff=tariff, currency=tariff.currency)
    hold = session.hold
    if hold is not None and hold.ended is None:
        # The reservation service marks it used too, with our clock; whichever comes first.
        updates["hold"] = hold.model_copy(update={
            "ended": HoldEnd.USED, "end": max(hold.start, event.timestamp)})
    return session.model_copy(update=updates)


def read(session: Session, reading: MeterReading) -> Session | None:
    if session.status is not SessionStatus.ACTIVE:
        return None
    readings = session.readings
    if readings and reading.at <= readings[-1].at:
        return None  # a late or repeated reading: the register only moves on
    if not readings:
        # No meter_start: the first reading is the register at the session's start.
        readings = (MeterReading(at=session.start_date_time, wh=reading.wh),)
        if reading.at <= session.start_date_time:
            return session.model_copy(update={"readings": readings})
    return session.model_copy(update={"readings": (*readings, reading)})


def state(session: Session, state: ChargingState) -> Session | None:
    """The session with ``state`` among its changes, in time order; None when it changes
    nothing (the EV was in that state already, or the session is not running)."""
    if session.status is not SessionStatus.ACTIVE or state.at < session.start_date_time:
        return None
    before = [s for s in session.states if s.at <= state.at]
    after = [s for s in session.states if s.at > state.at]
    current = before[-1].charging if before else True
    if current == state.charging:
        return None
    return session.model_copy(update={"states": (*before, state, *after)})


def finish(session: Session, event: TransactionEnded) -> Session | None:
    if session.final:
        return None
    readings = session.readings
    if event.meter_stop_wh is not None:
        stop = MeterReading(at=event.timestamp, wh=wh(event.meter_stop_wh))
        if not readings:
            readings = (MeterReading(at=session.start_date_time, wh=stop.wh),)
        if event.timestamp > readings[-1].at:
            readings = (*readings, stop)
    elif readings and event.timestamp > readings[-1].at:
        readings = (*readings, readings[-1].model_copy(update={"at": event.timestamp}))
    return session.model_copy(update={
        "status": SessionStatus.COMPLETED, "readings": readings,
        "end_date_time": max(event.timestamp, session.start_date_time)})


def moved(session: Session, info: HoldInfo, place: Place, now: datetime) -> Session | None:
    if session.status is not SessionStatus.RESERVATION or session.hold is None:
        return None
    return session.model_copy(update={
        "evse_uid": place.evse_uid, "connector_id": place.connector_id,
        "cdr_location": cdr_location(place), "charge_point_id": info.charge_point_id,
        "hold": session.hold.model_copy(update={
            "charge_point_id": info.charge_point_id,
            "ocpp_reservation_id": info.ocpp_reservation_id, "expiry": info.expiry})})


def hold_end(session: Session, ended: HoldEnd, at: datetime) -> Session | None:
    hold = session.hold
    if hold is None or hold.ended is not None:
        return None
    at = max(at, hold.start)
    if ended is HoldEnd.EXPIRED and hold.expiry is not None:
        at = max(hold.start, min(at, hold.expiry))  # the expiry clock may look late
    updated = session.model_copy(update={"hold": hold.model_copy(update={
        "ended": ended, "end": at})})
    if ended is HoldEnd.USED or session.status is not SessionStatus.RESERVATION:
        return updated
    return updated.model_copy(update={"status": SessionStatus.COMPLETED,
                                      "end_date_time": at})


def invalid(session: Session, now: datetime) -> Session | None:
    if session.status is not SessionStatus.PENDING:
        return None
    return session.model_copy(update={"status": SessionStatus.INVALID, "end_date_time": now})


def used_unbound(session: Session, now: datetime) -> Session | None:
    if session.status is not SessionStatus.RESERVATION or session.hold is None:
        return None
    return session.model_copy(update={"status": SessionStatus.COMPLETED,
                                      "end_date_time": session.hold.end or now})
