"""Utilisation per EVSE and site: seconds held, charged by the reserver, by walk-ins."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ocpi_gateway.admin.service.reports.models import UsageRow
from ocpi_gateway.admin.service.reports.window import HELD, Window, share, ts
from ocpi_gateway.reservation_policy.records import Reservation
from ocpi_gateway.sessions.models import HoldEnd, Session, SessionStatus


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
        at = ts(entry["at"])
        if open_at is not None:
            segments.append((open_at[0], open_at[1], at))
            open_at = None
        if entry["to"] in HELD:
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


def usage_rows(window: Window, reservations: Iterable[Reservation],
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
                    reserved_share=share(u.reserved, whole), used_share=share(u.used, whole),
                    walk_in_share=share(u.walk_in, whole))


