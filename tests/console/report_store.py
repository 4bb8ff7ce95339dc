"""A small prepared store for the reports: reservations, bookings, sessions, RESERVE_NOW
command records and CDRs of two eMSPs (DE-AAA, DE-BBB) at two sites (S1: E1, E2; S2: E9) on
2026-12-01 (UTC), written as the gateway's own records (their ``to_doc``). The figures the
tests expect are worked out by hand in tests/admin/test_reports.py from what is listed here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.cdrs.repository import COLLECTION as CDRS
from ocpi_gateway.commands.models import CommandResultType, CommandType
from ocpi_gateway.commands.records import COLLECTION as COMMANDS
from ocpi_gateway.commands.records import CommandRecord, CommandState
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.money import Price
from ocpi_gateway.reservation_policy.bookings.records import COLLECTION as BOOKINGS
from ocpi_gateway.reservation_policy.bookings.records import (
    Booking,
    BookingAsk,
    Cancellation,
    RequestEntry,
)
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    CancelReason,
    RequestStatus,
)
from ocpi_gateway.reservation_policy.policy import BookingTerms
from ocpi_gateway.reservation_policy.records import COLLECTION as RESERVATIONS
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.sessions.models import (
    AuthMethod,
    CdrLocationInfo,
    Hold,
    HoldEnd,
    HoldKind,
    Session,
    SessionStatus,
    SessionToken,
)
from ocpi_gateway.sessions.repository import COLLECTION as SESSIONS

DAY = datetime(2026, 12, 1, tzinfo=UTC)
WINDOW = (DAY, DAY + timedelta(days=1))
NOW = DAY + timedelta(days=1, hours=6)
EVSES = {"S1": ["E1", "E2"], "S2": ["E9"]}


def at(hhmm: str, day: int = 1) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(2026, 12 if day > 0 else 11, day if day > 0 else 30, int(hours),
                    int(minutes), tzinfo=UTC)


def reservation(rid: str, emsp: str, site: str, steps: list[tuple[str, str, str | None]],
                *, expiry: datetime, booking_key: str | None = None,
                grace_minutes: float = 0) -> Reservation:
    """``steps``: (moment "HH:MM" or ISO, state, evse) from creation on."""
    cc, party = emsp.split("-")
    history: list[dict[str, Any]] = []
    previous = None
    for moment, state, evse in steps:
        when = datetime.fromisoformat(moment) if "T" in moment else at(moment)
        history.append({"at": when.isoformat(), "from": previous, "to": state,
                        "reason": "test", "evse_uid": evse})
        previous = state
    created = datetime.fromisoformat(history[0]["at"])
    return Reservation(
        key=f"{emsp}/{rid}", country_code=cc, party_id=party, reservation_id=rid,
        location_id=site, token_uid=f"{party}TOKEN", token_type="RFID", expiry=expiry,
        state=ReservationState(steps[-1][1]), evse_uid=steps[-1][2], booking_key=booking_key,
        grace_seconds=grace_minutes * 60, created_at=created,
        updated_at=datetime.fromisoformat(history[-1]["at"]), history=tuple(history))


def reservations() -> list[Reservation]:
    return [
        reservation("R1", "DE-AAA", "S1", [("10:00", "PENDING", "E1"),
                                            ("10:00", "ACTIVE", "E1"), ("10:30", "USED", "E1")],
                    expiry=at("11:00")),
        reservation("R2", "DE-AAA", "S1", [("12:00", "PENDING", "E2"),
                                            ("12:00", "ACTIVE", "E2"),
                                            ("13:15", "EXPIRED", "E2")],
                    expiry=at("13:00"), grace_minutes=15),
        reservation("R3", "DE-BBB", "S1", [("23:30", "PENDING", "E1"),
                                            ("23:30", "ACTIVE", "E1")],
                    expiry=at("12:00", day=2)),  # still live at NOW
        reservation("R4", "DE-BBB", "S1", [("2026-11-30T23:50:00+00:00", "PENDING", "E1"),
                                            ("2026-11-30T23:50:00+00:00", "ACTIVE", "E1"),
                                            ("00:20", "USED", "E1")],
                    expiry=at("01:00")),
        reservation("R5", "DE-BBB", "S1", [("15:00", "PENDING", None),
                                            ("15:01", "FAILED", None)], expiry=at("16:00")),
        reservation("R6", "DE-AAA", "S1", [("16:00", "PENDING", "E2"),
                                            ("16:00", "ACTIVE", "E2"),
                                            ("16:10", "CANCELLED", "E2")], expiry=at("17:00")),
        reservation("R7", "DE-AAA", "S1", [("18:00", "PENDING", "E1"),
                                            ("18:00", "ACTIVE", "E1"),
                                            ("18:20", "REROUTED", "E2"),
                                            ("19:00", "EXPIRED", "E2")], expiry=at("19:00")),
        reservation("R8", "DE-AAA", "S2", [("09:00", "PENDING", "E9"),
                                            ("09:00", "ACTIVE", "E9"), ("09:05", "USED", "E9")],
                    expiry=at("10:00")),
        reservation("\u00a7BOOKING/B9", "DE-BBB", "S1", [
            ("14:00", "PENDING", "E1"), ("14:00", "ACTIVE", "E1"), ("14:10", "USED", "E1")],
            expiry=at("14:30"), booking_key="DE-BBB/B9"),
        reservation("R10", "DE-BBB", "S1", [("20:00", "PENDING", "E2"),
                                             ("20:00", "ACTIVE", "E2"),
                                             ("20:05", "USED", "E2")], expiry=at("21:00")),
        reservation("R11", "DE-BBB", "S2", [("11:00", "PENDING", "E9"),
                                             ("11:00", "ACTIVE", "E9"),
                                             ("11:30", "REMOVED", "E9")], expiry=at("12:00")),
    ]


def _ask(request_id: str, emsp: str, start: datetime, *, cancel: bool = False) -> BookingAsk:
    cc, party = emsp.split("-")
    return BookingAsk(request_id=request_id, location_id="S1", booking_location_id="S1",
                      start=start, end=start + timedelta(hours=1),
                      authorization_reference="AUTH", country_code=cc, party_id=party,
                      canceled=Cancellation(CancelReason.UNKNOWN, CanceledBy.EMSP)
                      if cancel else None)


def booking(bid: str, emsp: str, start: datetime, state: BookingState,
            requests: list[tuple[RequestStatus, datetime, str | None, bool]], *,
            canceled: Cancellation | None = None) -> Booking:
    cc, party = emsp.split("-")
    entries = tuple(RequestEntry(status, _ask(bid, emsp, start, cancel=cancel), received,
                                 received, message)
                    for status, received, message, cancel in requests)
    updated = max(e.received for e in entries)
    if state in (BookingState.FULFILLED, BookingState.NO_SHOW):
        updated = max(updated, start + timedelta(minutes=30))
    return Booking(key=f"{emsp}/{bid}", id=f"id-{bid}", country_code=cc, party_id=party,
                   request_id=bid, location_id="S1", booking_location_id="S1", start=start,
                   end=start + timedelta(hours=1), authorization_reference="AUTH",
                   terms=BookingTerms(enabled=True), state=state, requests=entries,
                   canceled=canceled, created_at=min(e.received for e in entries),
                   updated_at=updated)


def bookings() -> list[Booking]:
    return [
        booking("B1", "DE-BBB", at("20:00"), BookingState.FULFILLED,
                [(RequestStatus.ACCEPTED, at("09:00", day=0), None, False)]),
        booking("B2", "DE-BBB", at("08:00"), BookingState.NO_SHOW,
                [(RequestStatus.ACCEPTED, at("01:00"), None, False)]),
        booking("B3", "DE-AAA", at("22:00"), BookingState.REJECTED,
                [(RequestStatus.DECLINED, at("05:00"), "the site is full at 22:00", False)]),
        booking("B4", "DE-BBB", at("10:00", day=3), BookingState.CANCELED,
                [(RequestStatus.ACCEPTED, at("06:00"), None, False),
                 (RequestStatus.ACCEPTED, at("07:00"), None, True)],
                canceled=Cancellation(CancelReason.UNKNOWN, CanceledBy.EMSP)),
    ]


def _token(emsp: str) -> SessionToken:
    cc, party = emsp.split("-")
    return SessionToken(country_code=cc, party_id=party, uid=f"{party}TOKEN", type="RFID",
                        contract_id=f"{cc}-{party}-C1")


def session(sid: str, emsp: str | None, site: str, evse: str, start: datetime,
            end: datetime | None, *, hold: bool = False, transaction: bool = True,
            status: SessionStatus | None = None) -> Session:
    last = end or start + timedelta(minutes=10)
    return Session(
        id=sid, country_code="NL", party_id="CPO",
        status=status or (SessionStatus.COMPLETED if end else SessionStatus.ACTIVE),
        token=_token(emsp) if emsp else None, location_id=site, evse_uid=evse,
        charge_point_id="CP", transaction_id=f"tx-{sid}" if transaction else None,
        created_at=start, start_date_time=start, end_date_time=end, currency="EUR",
        hold=Hold(key=f"{emsp}/{sid}", kind=HoldKind.RESERVATION, start=start,
                  end=start, ended=HoldEnd.USED) if hold else None,
        last_updated=last)


def sessions() -> list[Session]:
    return [
        session("Sa", "DE-AAA", "S1", "E1", at("10:30"), at("11:30"), hold=True),
        session("Sb", "DE-BBB", "S1", "E1", at("23:00", day=0), at("01:00")),
        session("Sc", None, "S1", "E2", at("23:00"), None),
        session("Sd", "DE-AAA", "S1", "E2", at("12:00"), None, transaction=False,
                status=SessionStatus.RESERVATION),
        session("Se", "DE-AAA", "S2", "E9", at("09:05"), at("09:35"), hold=True),
    ]


def command(cid: str, emsp: str, site: str, created: datetime, *,
            result: CommandResultType | None, message: str | None = None,
            kind: CommandType = CommandType.RESERVE_NOW) -> CommandRecord:
    cc, party = emsp.split("-")
    token = _token(emsp)
    body = {"response_url": f"http://127.0.0.1:9/{cid}", "location_id": site,
            "token": {**token.model_dump(), "issuer": "eMSP", "valid": True,
                      "whitelist": "ALWAYS", "last_updated": created.isoformat()}}
    if kind is CommandType.RESERVE_NOW:
        body.update(reservation_id=f"R-{cid}",
                    expiry_date=(created + timedelta(hours=1)).isoformat())
    # A pending one is another instance's, well within its time: a gateway started over this
    # store leaves it alone.
    return CommandRecord(id=cid, partner_id="p", country_code=cc, party_id=party,
                         command=kind, body=body, response_url=body["response_url"],
                         deadline=created.timestamp() + (30 if result else 400 * 86_400),
                         state=CommandState.DONE if result else CommandState.PENDING,
                         result=result, message=message, instance_id="gw-elsewhere",
                         created_at=created.timestamp())


def commands() -> list[CommandRecord]:
    banned = "the token is banned"
    return [
        command("C1", "DE-AAA", "S1", at("10:00"), result=CommandResultType.ACCEPTED),
        command("C2", "DE-AAA", "S1", at("11:00"), result=CommandResultType.REJECTED,
                message=banned),
        command("C3", "DE-AAA", "S2", at("12:00"), result=CommandResultType.REJECTED,
                message=banned),
        command("C4", "DE-AAA", "S1", at("13:00"), result=CommandResultType.FAILED),
        command("C5", "DE-BBB", "S1", at("14:00"), result=None),
        command("C6", "DE-BBB", "S1", at("09:00", day=0), result=CommandResultType.ACCEPTED),
        command("C7", "DE-AAA", "S1", at("15:00"), result=CommandResultType.ACCEPTED,
                kind=CommandType.START_SESSION),
    ]


def cdr(cid: str, emsp: str, site: str, made: datetime, kind: CdrKind, total: str, *,
        currency: str = "EUR", reservation_fee: str | None = None,
        hold_end: HoldEnd | None = None, credit: bool = False) -> Cdr:
    return Cdr(
        id=cid, country_code="NL", party_id="CPO", kind=kind, start_date_time=made,
        end_date_time=made, token=_token(emsp), auth_method=AuthMethod.WHITELIST,
        location=CdrLocationInfo(id=site, address="a", city="c", country="NLD",
                                 latitude="52.0", longitude="4.0",
                                 connector_standard="IEC_62196_T2",
                                 connector_format="SOCKET",
                                 connector_power_type="AC_3_PHASE"),
        currency=currency, periods=(), total_cost=Price(before_taxes=Decimal(total)),
        total_energy=Decimal(0), total_time=Decimal(0),
        total_reservation_cost=Price(before_taxes=Decimal(reservation_fee))
        if reservation_fee else None,
        hold_end=hold_end, credit=credit, last_updated=made)


def cdrs() -> list[Cdr]:
    return [
        cdr("K1", "DE-AAA", "S1", at("11:31"), CdrKind.SESSION, "12.50",
            reservation_fee="2.00"),
        cdr("K2", "DE-AAA", "S1", at("13:16"), CdrKind.RESERVATION, "3.00",
            hold_end=HoldEnd.EXPIRED),
        cdr("K3", "DE-AAA", "S1", at("16:10"), CdrKind.RESERVATION, "1.50",
            hold_end=HoldEnd.CANCELLED),
        # The Credit CDR of K1: its total negated, its parts as they were (builder.credit_of).
        cdr("K4", "DE-AAA", "S1", at("18:00"), CdrKind.SESSION, "-12.50",
            reservation_fee="2.00", credit=True),
        cdr("K5", "DE-BBB", "S1", at("20:40"), CdrKind.SESSION, "8.00", reservation_fee="1.00"),
        cdr("K6", "DE-BBB", "S2", at("12:00"), CdrKind.SESSION, "5.00", currency="CHF"),
        cdr("K7", "DE-BBB", "S1", at("01:00", day=2), CdrKind.RESERVATION, "4.00",
            hold_end=HoldEnd.EXPIRED),
    ]


async def prepare(store: DocumentStore) -> None:
    for r in reservations():
        await store.put(RESERVATIONS, r.key, r.to_doc())
    for b in bookings():
        await store.put(BOOKINGS, b.key, b.to_doc())
    for s in sessions():
        await store.put(SESSIONS, s.id, s.to_doc())
    for c in commands():
        await store.put(COMMANDS, c.id, c.to_doc())
    for k in cdrs():
        await store.put(CDRS, k.id, k.to_doc())
