"""No-shows per eMSP: what was made in the window and how it ended."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ocpi_gateway.admin.service.reports.models import ALL, NoShowRow
from ocpi_gateway.admin.service.reports.window import HELD, Window
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.states import BookingState, CanceledBy
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState


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
        return "no_shows" if previous in HELD else "failed"
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


def no_show_rows(window: Window, reservations: Iterable[Reservation],
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


