"""The operator's reports over a window [from, to): no-show rate, utilisation of each EVSE,
acceptance and refusal reasons per eMSP, and the money reservations bring, computed from the
durable store (what every instance wrote), so the API, the console's charts and
``ocpi-gateway report`` give the same figures.

What each figure counts (docs/operator-guide.md "Reports"):

- no-shows: RESERVE_NOW reservations *made* in the window and bookings whose slot *starts* in
  it; used = USED / FULFILLED, a no-show = expired unused after it was held (the enforcement's
  rule) / NO_SHOW; the rate is no-shows / (used + no-shows), None when nothing ended so.
- utilisation: per EVSE, the seconds of the window it was held for a reservation or a
  booking's binding (from ACTIVE to its end), charged for one (the sessions that began with
  a reservation or booking, from the transaction's start), and charged by walk-ins (sessions
  without one); shares of the window's length.
- acceptance: RESERVE_NOW commands received in the window (their records, kept 7 days once
  settled; refusals at the door, a 2xxx answer, are not stored) and booking requests received
  in it, accepted or refused with the reason the eMSP was told.
- revenue: CDRs made in the window, per eMSP and currency, before taxes: the reservation fees
  of charging sessions, no-show fees (reservations and bookings left unused), late
  cancellation fees, and the whole of the session CDRs; Credit CDRs subtract.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.cdrs.repository import COLLECTION as CDRS
from ocpi_gateway.commands.records import COLLECTION as COMMANDS
from ocpi_gateway.commands.records import CommandRecord, CommandState
from ocpi_gateway.domain.store import DocumentStore, Range
from ocpi_gateway.reservation_policy.bookings.records import COLLECTION as BOOKINGS
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    RequestStatus,
)
from ocpi_gateway.reservation_policy.records import COLLECTION as RESERVATIONS
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.sessions.models import HoldEnd, Session, SessionStatus
from ocpi_gateway.sessions.repository import COLLECTION as SESSIONS

MAX_DAYS = 366
BOOKING_LOOKBACK = timedelta(days=2)
"""A booking's slot starting this long before the window may still reach into it (the
booking terms' longest slot is far shorter)."""
_HELD = frozenset({ReservationState.ACTIVE.value, ReservationState.REROUTED.value})
ALL = "*"
"""The partner of the totals row."""


def partner_of(value: str) -> tuple[str, str]:
    """``DE-ABC``, ``DE*ABC`` or ``DE/ABC`` → ("DE", "ABC")."""
    cleaned = value.strip().upper().replace("*", "-").replace("/", "-")
    country, _, party = cleaned.partition("-")
    if len(country) != 2 or not 1 <= len(party) <= 3 or not (country + party).isalnum():
        raise ValueError(f"{value!r} is not an eMSP party like DE-ABC")
    return country, party


class ReportQuery(BaseModel):
    """The query of ``GET /admin/api/reports`` and of ``ocpi-gateway report``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    start: datetime = Field(alias="from", description="the window's start (inclusive)")
    end: datetime = Field(alias="to", description="the window's end (exclusive)")
    site: str | None = Field(default=None, description="a location id")
    partner: str | None = Field(default=None, description="an eMSP party, e.g. DE-ABC")

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-12-01T00:00:00Z)")
        return value

    @field_validator("partner")
    @classmethod
    def _party(cls, value: str | None) -> str | None:
        if not value:
            return None
        country, party = partner_of(value)
        return f"{country}-{party}"

    @model_validator(mode="after")
    def _window(self) -> ReportQuery:
        if self.end <= self.start:
            raise ValueError("'to' must be after 'from'")
        if self.end - self.start > timedelta(days=MAX_DAYS):
            raise ValueError(f"a report spans at most {MAX_DAYS} days")
        return self


class NoShowRow(BaseModel):
    partner: str
    """The eMSP (``DE-ABC``), or ``*`` for all of them."""
    made: int
    used: int
    no_shows: int
    cancelled: int
    """By the eMSP."""
    ended_by_cpo: int
    """Removed by the charger's side or an operator, a booking cancelled by the CPO."""
    failed: int
    """Never held: no charger accepted it (a reservation), rejected or failed (a booking)."""
    live: int
    rate: float | None
    """no_shows / (used + no_shows); None when none of them ended either way."""


class UsageRow(BaseModel):
    location_id: str
    evse_uid: str | None
    """None: the site's EVSEs together (seconds summed, shares of their summed windows)."""
    window_seconds: float
    reserved_seconds: float
    used_seconds: float
    """Charging by the driver who had reserved or booked it."""
    walk_in_seconds: float
    reserved_share: float
    used_share: float
    walk_in_share: float


class ReasonCount(BaseModel):
    reason: str
    count: int


class AcceptanceRow(BaseModel):
    partner: str
    kind: str
    """``reservation`` (RESERVE_NOW) or ``booking`` (booking requests)."""
    asked: int
    accepted: int
    refused: int
    pending: int
    acceptance_rate: float | None
    refusals: list[ReasonCount]
    """Most frequent first."""


class RevenueRow(BaseModel):
    partner: str
    currency: str
    reservation_fees: Decimal
    no_show_fees: Decimal
    late_cancellation_fees: Decimal
    session_revenue: Decimal
    """Every session CDR's total (its reservation fee included)."""
    cdrs: int


class Report(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)  # "from" and "to", as asked

    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    site: str | None
    partner: str | None
    generated_at: datetime
    no_shows: list[NoShowRow]
    """Per eMSP, then the ``*`` row of all."""
    utilisation: list[UsageRow]
    """Per site: its EVSEs, then the site's row (``evse_uid`` null)."""
    acceptance: list[AcceptanceRow]
    revenue: list[RevenueRow]


# --------------------------------------------------------------------------- helpers


@dataclass(slots=True)
class _Window:
    start: float
    end: float
    now: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def clip(self, begin: float, finish: float | None) -> float:
        """Seconds of [begin, finish) inside the window; an open end runs to now."""
        stop = min(finish if finish is not None else self.now, self.now, self.end)
        return max(0.0, stop - max(begin, self.start))

    def holds(self, moment: float) -> bool:
        return self.start <= moment < self.end


def _ts(value: str | datetime) -> float:
    return (datetime.fromisoformat(value) if isinstance(value, str) else value).timestamp()


def _share(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole > 0 else 0.0


def _where(site: str | None, **more: Any) -> dict[str, Any]:
    where = dict(more)
    if site:
        where["location_id"] = site
    return where


# --------------------------------------------------------------------------- no-shows


@dataclass(slots=True)
class _Ends:
    made: int = 0
    used: int = 0
    no_shows: int = 0
    cancelled: int = 0
    ended_by_cpo: int = 0
    failed: int = 0
    live: int = 0

    def row(self, partner: str) -> NoShowRow:
        ended = self.used + self.no_shows
        return NoShowRow(partner=partner, made=self.made, used=self.used,
                         no_shows=self.no_shows, cancelled=self.cancelled,
                         ended_by_cpo=self.ended_by_cpo, failed=self.failed, live=self.live,
                         rate=round(self.no_shows / ended, 6) if ended else None)


def _reservation_end(r: Reservation) -> str:
    if r.live:
        return "live"
    if r.state is ReservationState.USED:
        return "used"
    if r.state is ReservationState.EXPIRED:
        previous = r.history[-1].get("from") if r.history else None
        return "no_shows" if previous in _HELD else "failed"
    if r.state is ReservationState.CANCELLED:
        return "cancelled"
    if r.state is ReservationState.REMOVED:
        return "ended_by_cpo"
    return "failed"


_BOOKING_ENDS = {BookingState.PENDING: "live", BookingState.RESERVED: "live",
                 BookingState.FULFILLED: "used", BookingState.NO_SHOW: "no_shows",
                 BookingState.REJECTED: "failed", BookingState.FAILED: "failed"}


def _booking_end(b: Booking) -> str:
    if b.state is BookingState.CANCELED:
        by_cpo = b.canceled is not None and b.canceled.by is CanceledBy.CPO
        return "ended_by_cpo" if by_cpo else "cancelled"
    return _BOOKING_ENDS[b.state]


def no_show_rows(window: _Window, reservations: Iterable[Reservation],
                 bookings: Iterable[Booking]) -> list[NoShowRow]:
    per: dict[str, _Ends] = defaultdict(_Ends)
    ends: list[tuple[str, str]] = []
    for r in reservations:
        if r.booking_key is None and window.holds(r.created_at.timestamp()):
            ends.append((r.partner.key, _reservation_end(r)))
    for b in bookings:
        if window.holds(b.start.timestamp()):
            ends.append((b.partner.key, _booking_end(b)))
    for partner, end in ends:
        for counts in (per[partner], per[ALL]):
            counts.made += 1
            setattr(counts, end, getattr(counts, end) + 1)
    per.setdefault(ALL, _Ends())
    return [per[p].row(p) for p in sorted(per, key=lambda p: (p == ALL, p))]


# --------------------------------------------------------------------------- utilisation


@dataclass(slots=True)
class _Usage:
    reserved: float = 0.0
    used: float = 0.0
    walk_in: float = 0.0


def _held_segments(r: Reservation) -> list[tuple[str | None, float, float | None]]:
    """(EVSE, from, to) of each stretch the reservation was held (ACTIVE or REROUTED)."""
    segments: list[tuple[str | None, float, float | None]] = []
    open_at: tuple[str | None, float] | None = None
    for entry in r.history:
        at = _ts(entry["at"])
        if open_at is not None:
            segments.append((open_at[0], open_at[1], at))
            open_at = None
        if entry["to"] in _HELD:
            open_at = (entry.get("evse_uid") or r.evse_uid, at)
    if open_at is not None:
        segments.append((open_at[0], open_at[1], r.ends_at.timestamp()))
    return segments


def _charging(s: Session) -> tuple[float, float | None] | None:
    """When the session's transaction ran (None: no transaction, a reservation waiting)."""
    if s.transaction_id is None or s.status in (SessionStatus.RESERVATION,
                                                SessionStatus.INVALID):
        return None
    return s.start_date_time.timestamp(), \
        s.end_date_time.timestamp() if s.end_date_time is not None else None


def usage_rows(window: _Window, reservations: Iterable[Reservation],
               sessions: Iterable[Session],
               evses: Mapping[str, Sequence[str]] | None) -> list[UsageRow]:
    per: dict[tuple[str, str], _Usage] = defaultdict(_Usage)
    for location_id, uids in (evses or {}).items():
        for uid in uids:
            per.setdefault((location_id, uid), _Usage())
    for r in reservations:
        for evse_uid, begin, finish in _held_segments(r):
            if evse_uid is not None:
                per[(r.location_id, evse_uid)].reserved += window.clip(begin, finish)
    for s in sessions:
        ran = _charging(s)
        if ran is None or s.evse_uid.startswith("#"):
            continue
        seconds = window.clip(*ran)
        usage = per[(s.location_id, s.evse_uid)]
        if s.hold is not None and s.hold.ended is HoldEnd.USED:
            usage.used += seconds
        else:
            usage.walk_in += seconds
    rows: list[UsageRow] = []
    sites = sorted({location for location, _ in per})
    for site in sites:
        total = _Usage()
        uids = sorted(uid for location, uid in per if location == site)
        for uid in uids:
            u = per[(site, uid)]
            rows.append(_usage_row(site, uid, u, window.seconds))
            total.reserved += u.reserved
            total.used += u.used
            total.walk_in += u.walk_in
        rows.append(_usage_row(site, None, total, window.seconds * len(uids)))
    return rows


def _usage_row(site: str, uid: str | None, u: _Usage, whole: float) -> UsageRow:
    return UsageRow(location_id=site, evse_uid=uid, window_seconds=whole,
                    reserved_seconds=round(u.reserved, 3), used_seconds=round(u.used, 3),
                    walk_in_seconds=round(u.walk_in, 3),
                    reserved_share=_share(u.reserved, whole), used_share=_share(u.used, whole),
                    walk_in_share=_share(u.walk_in, whole))


# --------------------------------------------------------------------------- acceptance


@dataclass(slots=True)
class _Asked:
    accepted: int = 0
    pending: int = 0
    refusals: Counter[str] = field(default_factory=Counter)


def acceptance_rows(window: _Window, commands: Iterable[CommandRecord],
                    bookings: Iterable[Booking], site: str | None) -> list[AcceptanceRow]:
    per: dict[tuple[str, str], _Asked] = defaultdict(_Asked)
    for c in commands:
        if site and str(c.body.get("location_id", "")).upper() != site.upper():
            continue
        asked = per[(f"{c.country_code}-{c.party_id}".upper(), "reservation")]
        if c.state is CommandState.PENDING or c.result is None:
            asked.pending += 1
        elif c.result.value == "ACCEPTED":
            asked.accepted += 1
        else:
            asked.refusals[c.message or c.result.value] += 1
    for b in bookings:
        for request in b.requests:
            if not window.holds(request.received.timestamp()) or request.ask.is_cancellation:
                continue
            asked = per[(b.partner.key, "booking")]
            if request.status is RequestStatus.PENDING:
                asked.pending += 1
            elif request.status is RequestStatus.ACCEPTED:
                asked.accepted += 1
            else:
                asked.refusals[request.message or request.status.value] += 1
    rows = []
    for (partner, kind), a in sorted(per.items()):
        refused = sum(a.refusals.values())
        decided = a.accepted + refused
        rows.append(AcceptanceRow(
            partner=partner, kind=kind, asked=decided + a.pending, accepted=a.accepted,
            refused=refused, pending=a.pending,
            acceptance_rate=round(a.accepted / decided, 6) if decided else None,
            refusals=[ReasonCount(reason=reason, count=n) for reason, n in
                      sorted(a.refusals.items(), key=lambda item: (-item[1], item[0]))]))
    return rows


# --------------------------------------------------------------------------- revenue


@dataclass(slots=True)
class _Money:
    reservation_fees: Decimal = Decimal(0)
    no_show_fees: Decimal = Decimal(0)
    late_cancellation_fees: Decimal = Decimal(0)
    session_revenue: Decimal = Decimal(0)
    cdrs: int = 0


def revenue_rows(cdrs: Iterable[Cdr]) -> list[RevenueRow]:
    per: dict[tuple[str, str], _Money] = defaultdict(_Money)
    for cdr in cdrs:
        sign = -1 if cdr.credit else 1  # a credit's total_cost is negated, its parts are not
        partner = cdr.emsp_key.replace("/", "-")
        for money in (per[(partner, cdr.currency)], per[(ALL, cdr.currency)]):
            money.cdrs += 1
            if cdr.kind is CdrKind.SESSION:
                money.session_revenue += cdr.total_cost.before_taxes
                if cdr.total_reservation_cost is not None:
                    money.reservation_fees += sign * cdr.total_reservation_cost.before_taxes
            elif cdr.hold_end is HoldEnd.CANCELLED:
                money.late_cancellation_fees += cdr.total_cost.before_taxes
            else:
                money.no_show_fees += cdr.total_cost.before_taxes
    return [RevenueRow(partner=partner, currency=currency, reservation_fees=m.reservation_fees,
                       no_show_fees=m.no_show_fees,
                       late_cancellation_fees=m.late_cancellation_fees,
                       session_revenue=m.session_revenue, cdrs=m.cdrs)
            for (partner, currency), m in sorted(per.items(),
                                                 key=lambda i: (i[0][0] == ALL, i[0]))]


# --------------------------------------------------------------------------- the report


async def build_report(store: DocumentStore, query: ReportQuery, *, now: datetime,
                       evses: Mapping[str, Sequence[str]] | None = None) -> Report:
    """``evses``: every EVSE of each site in the catalog (location id → uids), so that an
    EVSE nobody used shows 0 % too; without it only EVSEs something happened at appear."""
    window = _Window(query.start.timestamp(), query.end.timestamp(), now.timestamp())
    partner = partner_of(query.partner) if query.partner else None
    partner_key = f"{partner[0]}-{partner[1]}" if partner else None
    party_slash = f"{partner[0]}/{partner[1]}" if partner else None
    site = query.site
    if evses is not None and site is not None:
        evses = {k: v for k, v in evses.items() if k == site}

    reservation_docs = await store.find(RESERVATIONS, _where(
        site, created_ts=Range(lt=window.end), expiry_ts=Range(gte=window.start),
        **({"partner_key": partner_key} if partner_key else {})))
    reservations = [Reservation.from_doc(d) for d in reservation_docs]
    booking_docs = await store.find(BOOKINGS, _where(
        site, start_ts=Range(gte=window.start - BOOKING_LOOKBACK.total_seconds(),
                             lt=window.end),
        **({"partner_key": partner_key} if partner_key else {})))
    requested_docs = await store.find(BOOKINGS, _where(
        site, created_ts=Range(lt=window.end), updated_ts=Range(gte=window.start),
        **({"partner_key": partner_key} if partner_key else {})))
    bookings = [Booking.from_doc(d) for d in booking_docs]
    requested = [Booking.from_doc(d) for d in requested_docs]
    session_docs = {d["id"]: d for d in await store.find(SESSIONS, _where(
        site, last_updated_ts=Range(gte=window.start),
        **({"emsp_key": party_slash} if party_slash else {})))}
    for d in await store.find(SESSIONS, _where(site, open=True)):
        if party_slash is None or d.get("emsp_key") == party_slash:
            session_docs.setdefault(d["id"], d)
    sessions = [Session.from_doc(d) for d in session_docs.values()]
    command_docs = await store.find(COMMANDS, {
        "command": "RESERVE_NOW", "created_at": Range(gte=window.start, lt=window.end),
        **({"country_code": partner[0], "party_id": partner[1]} if partner else {})})
    commands = [CommandRecord.from_doc(d) for d in command_docs]
    cdr_docs = await store.find(CDRS, {
        "last_updated_ts": Range(gte=window.start, lt=window.end),
        **({"emsp_key": party_slash} if party_slash else {})})
    cdrs = [c for c in (Cdr.from_doc(d) for d in cdr_docs)
            if site is None or c.location.id == site]

    return Report(start=query.start, end=query.end, site=site, partner=partner_key,
                  generated_at=now,
                  no_shows=no_show_rows(window, reservations, bookings),
                  utilisation=usage_rows(window, reservations, sessions, evses),
                  acceptance=acceptance_rows(window, commands, requested, site),
                  revenue=revenue_rows(cdrs))
