"""Shared by the booking tests: a clock the test moves, a booking factory, the stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.bookings.ledger import BookingLedger
from ocpi_gateway.reservation_policy.bookings.records import (
    Booking,
    BookingAsk,
    BookingToken,
    RequestEntry,
    booking_key,
)
from ocpi_gateway.reservation_policy.bookings.service import BookingService
from ocpi_gateway.reservation_policy.bookings.states import BookingState, RequestStatus
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline
from ocpi_gateway.reservation_policy.capacity.gate import ReservationCapacity
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import BookingTerms, PolicySource, parse_policy
from tests.policy.support import StaticCandidates, grid

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
EMSP = Partner("NL", "EXA")
OTHER = Partner("DE", "OTH")
TERMS = BookingTerms(enabled=True, activation_lead_minutes=10, noshow_timeout_minutes=15,
                     early_start_minutes=5, turnover_buffer_minutes=10)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def token(uid: str = "TOK1", partner: Partner = EMSP) -> BookingToken:
    return BookingToken(partner.country_code, partner.party_id, uid, "RFID", f"C-{uid}")


def ask(request_id: str = "R1", *, start: float = 600, minutes: float = 60,
        partner: Partner = EMSP, location: str = "LOC1", **changes: Any) -> BookingAsk:
    base = BookingAsk(request_id=request_id, location_id=location, booking_location_id=location,
                      start=at(start), end=at(start + minutes), authorization_reference="AUTH1",
                      country_code=partner.country_code, party_id=partner.party_id,
                      tokens=(token(partner=partner),))
    return replace(base, **changes)


def booking(request_id: str = "R1", *, start: float = 600, minutes: float = 60,
            partner: Partner = EMSP, state: BookingState = BookingState.PENDING,
            location: str = "LOC1", terms: BookingTerms = TERMS, **changes: Any) -> Booking:
    a = ask(request_id, start=start, minutes=minutes, partner=partner, location=location)
    base = Booking(key=booking_key(partner, request_id), id=f"B-{request_id}",
                   country_code=partner.country_code, party_id=partner.party_id,
                   request_id=request_id, location_id=location, booking_location_id=location,
                   start=a.start, end=a.end, authorization_reference=a.authorization_reference,
                   terms=terms, state=state, tokens=a.tokens,
                   requests=(RequestEntry(RequestStatus.PENDING, a, T0),))
    return replace(base, **changes)


def policy_source(*, walk_in_reserve: int = 0, **bookings: Any) -> PolicySource:
    terms = {"enabled": True, "activation_lead_minutes": 10, "noshow_timeout_minutes": 15,
             "early_start_minutes": 5, "turnover_buffer_minutes": 10, **bookings}
    return PolicySource(policy=parse_policy({"defaults": {
        "min_duration_minutes": 1, "walk_in_reserve": walk_in_reserve, "ordering": [],
        "bookings": terms}}))


def service(store: DocumentStore, timeline: CapacityTimeline, clock: Clock, *,
            evses: int = 2, policy: PolicySource | None = None) -> BookingService:
    policy = policy or policy_source()
    return BookingService(BookingLedger(store, clock=clock),
                          ReservationCapacity(timeline, policy, clock=clock),
                          StaticCandidates(grid(evses, per_charger=1)), policy, clock=clock)
